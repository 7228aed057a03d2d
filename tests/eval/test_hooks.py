"""The trainer's eval hooks from a config: the held-out retrieval through eval's retrieval evaluator, on schedule."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from tests.eval.fakes import ColourModel
from tests.pretrain.curated_images import write_curated_images
from webpairs.eval import hooks, metrics
from webpairs.eval.datasets import curated


def test_held_out_retrieval_hook_from_the_config(tmp_path):
  write_curated_images(tmp_path / "held_out", 12, seed=0)
  config = ml_collections.ConfigDict({"evals": {"retrieval": dict(shards=str(tmp_path / "held_out"), every=3,
                                                                  max_examples=1000, batch_size=8)}})
  [hook] = hooks.from_config(config, workdir=None)
  assert [hook.due(s, False) for s in (1, 3, 4, 6)] == [False, True, False, True] and hook.due(4, True)

  lines = []
  scores = hook(3, False, ColourModel(), lines.append)
  assert set(scores) == {f"retrieval/{m}" for m in ("img2txt_r1", "txt2img_r1", "img2txt_r5", "txt2img_r5",
                                                    "chance_r1", "chance_r5", "examples", "seconds")}
  assert scores["retrieval/examples"] == 12 and lines[0].startswith("[pretrain] step 3 retrieval on 12 held-out pairs")
  # One pool of all captions, identical captions counting as the same text: R@1 and chance by hand.
  ds = curated.load(str(tmp_path / "held_out"))
  model = ColourModel()
  sim = np.concatenate([model.embed_images(b) for b in ds.image_batches(16, 8)]) @ model.embed_texts(ds.captions).T
  _, ids = np.unique(np.asarray(ds.captions), return_inverse=True)
  assert (scores["retrieval/img2txt_r1"], scores["retrieval/txt2img_r1"]) == metrics.retrieval_recall(sim, 1,
                                                                                                      text_ids=ids)
  right = metrics.retrieval_matches(np.arange(12), 12, ids).sum(axis=0)
  assert scores["retrieval/chance_r1"] == pytest.approx(right.mean() / 12)


def test_no_hooks_without_evals_and_typed_evals_need_a_data_root():
  assert hooks.from_config(ml_collections.ConfigDict({"evals": {"retrieval": {"shards": ""}}}), workdir=None) == []
  config = ml_collections.ConfigDict({"evals": {"zs": dict(type="zero_shot", dataset="dollarstreet")}})
  with pytest.raises(ValueError, match="eval_data_root"):
    hooks.from_config(config, workdir=None)
