"""The `curate score` job: a tiny trained two-tower scores raw shards through Beam RunInference."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import jax.numpy as jnp
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.eval.test_inference import train_tiny
from webpairs import cli
from webpairs.curation import annotate as annotate_lib
from webpairs.curation import reasons
from webpairs.pretrain.inference import loader as inference_loader
from webpairs.configs.curation import load_curation_config
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.raw import readers
from webpairs.pipelines.score import score, score_files
from webpairs.pipelines.select import select_balance, select_files
from webpairs.pipelines.score import semantic_dedup as sd
from webpairs.pipelines.select.select_plan import make_plan
from webpairs.pipelines.select.select import run_select
from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.pretrain import trainer as trainer_lib
from webpairs.pretrain.input import preprocess
from webpairs.demo.sample import defects
from webpairs.demo.sample import writer as sample_writer
from webpairs.tokenizers import Tokenizer
from webpairs.formats.raw import image_extension

ONE_WORKER = ["--direct_num_workers=1"]
RATES = {defects.CORRUPT_IMAGE: 0.08, defects.MISSING_IMAGE: 0.05, defects.EMPTY_CAPTION: 0.05}


class _BrokenScorer(score.TwoTowerScorer):
  """Raises on every batch: the job must still write a row per example."""

  def run_inference(self, batch, model, inference_args=None):
    raise RuntimeError("out of device memory")


def _digests(folder: pathlib.Path) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("score")
  train_tiny(root, examples=64, steps=1, ckpt_every=1)
  sample_writer.write_sample(root / "raw", num_examples=30, seed=5, shard_size=10, rates=RATES,
                             real_images_dir=None, truncated_tar=False)
  return root


def _reference(work: pathlib.Path) -> tuple:
  """The checkpoint restored by hand: the full two-tower module, its tokenizer and input size."""
  config = inference_loader.load_config(str(work))
  tok = Tokenizer.load(config.input.tokenizer)
  trainer = trainer_lib.Trainer(config, vocab_size=tok.vocab_size)
  checkpointer = ckpt_lib.Checkpointer(str(work / ckpt_lib.CHECKPOINT_DIR), every=1, keep=3)
  try:
    state, _ = checkpointer.restore(1, trainer.abstract_with_shardings())
  finally:
    checkpointer.close()
  module = trainer._model(state["params"], trainer.consts)  # pylint: disable=protected-access
  return module, tok, config


def test_scores_match_the_checkpoint_and_rejects_get_null(root):
  out = root / "scores"
  handler = score.TwoTowerScorer(str(root / "work"), batch_size=8)
  summary = score.run_score(str(root / "raw" / "*.tar"), str(out), handler, ONE_WORKER, embeddings=True,
                            show_progress=False)
  module, tok, config = _reference(root / "work")
  res, max_len = config.input.res, config.input.max_len
  checked = rejected = 0
  for shard in readers.match_shards([str(root / "raw" / "*.tar")]):
    table = pq.read_table(score_files.scores_path(str(out), shard)).to_pylist()
    examples = list(readers.read_shard(shard))
    assert [(r["offset"], r["key"]) for r in table] == [(e.offset, e.key) for e in examples]
    for row, ex in zip(table, examples, strict=True):
      status, caption = annotate_lib.precheck(ex)
      if status != reasons.OK:
        assert row["score"] is None and row["score_sigmoid"] is None and row["error"] == status
        assert row["image_embedding"] is None
        rejected += 1
        continue
      ext = image_extension(ex.members)
      pixels = preprocess.decode_image(ex.members[ext], res)[None]
      tokens = tok.tokenize([caption], max_len, eos="sticky", pad_value=1)
      zimg, ztxt, extras = module(jnp.asarray(pixels), jnp.asarray(tokens))
      want = float(extras["t"]) * float(jnp.sum(zimg * ztxt)) + float(extras["b"])
      assert row["error"] is None
      assert row["score"] == pytest.approx(want, abs=1e-5)
      assert row["score_sigmoid"] == pytest.approx(1 / (1 + np.exp(-want)), abs=1e-5)
      np.testing.assert_allclose(np.asarray(row["image_embedding"], np.float32), np.asarray(zimg[0]), atol=1e-3)
      np.testing.assert_allclose(np.asarray(row["text_embedding"], np.float32), np.asarray(ztxt[0]), atol=1e-3)
      checked += 1
  assert checked + rejected == summary["examples"] == 30
  assert summary["scored"] == checked and summary["rejected"] == rejected > 0
  assert summary["model_failed"] == 0


def test_rerun_is_byte_identical_and_resumes(root, tmp_path):
  handler = score.TwoTowerScorer(str(root / "work"), batch_size=8)
  inputs = str(root / "raw" / "*.tar")
  first, second = tmp_path / "a", tmp_path / "b"
  score.run_score(inputs, str(first), handler, ONE_WORKER, show_progress=False)
  # Another batch size limit on the way in (RunInference batches differ) gives the same bytes.
  score.run_score(inputs, str(second), handler, ["--direct_num_workers=2", "--direct_running_mode=multi_threading"],
                  show_progress=False)
  assert _digests(first) == _digests(second)
  # A killed job: one shard's file gone, another's a partial temp file. The rerun redoes just those.
  names = sorted(p.name for p in first.glob("scores-*.parquet"))
  kept = first / names[1]
  kept_mtime = os.stat(kept).st_mtime_ns
  (first / names[0]).unlink()
  (first / names[2]).write_bytes(b"partial")
  summary = score.run_score(inputs, str(first), handler, ONE_WORKER, show_progress=False)
  assert _digests(first) == _digests(second)
  assert os.stat(kept).st_mtime_ns == kept_mtime
  assert summary["examples"] == 30
  # Another checkpoint setting (batch size) is another fingerprint: everything is scored again.
  other = score.TwoTowerScorer(str(root / "work"), batch_size=4)
  assert score.score_fingerprint(other, False) != score.score_fingerprint(handler, False)


def test_cli_and_errors(root, tmp_path, capsys):
  out = tmp_path / "cli"
  assert cli.main(["curate", "score", "--input", str(root / "raw" / "*.tar"), "--checkpoint", str(root / "work"),
                   "--output", str(out), "--batch-size", "8", "--no-progress", "--direct_num_workers=1"]) == 0
  text = capsys.readouterr().out
  assert "scored" in text
  summary = json.loads((out / "summary.json").read_text())
  assert summary["examples"] == 30 and not summary["embeddings"]
  assert pq.read_schema(next(out.glob("scores-*.parquet"))).names == [n for n, _ in score_files.BASE_FIELDS]
  with pytest.raises(FileNotFoundError, match="no checkpoint of step 9"):
    score.TwoTowerScorer(str(root / "work"), step=9)
  with pytest.raises(FileNotFoundError, match="no checkpoints"):
    score.TwoTowerScorer(str(tmp_path))


@pytest.fixture(scope="module")
def annotated(root) -> pathlib.Path:
  """Scores with embeddings, and annotations with the scores joined in."""
  inputs = str(root / "raw" / "*.tar")
  handler = score.TwoTowerScorer(str(root / "work"), batch_size=8)
  score.run_score(inputs, str(root / "scores_emb"), handler, ONE_WORKER, embeddings=True, show_progress=False)
  annotate_job.run_annotate(inputs, str(root / "ann"), ONE_WORKER, show_progress=False,
                            scores_dir=str(root / "scores_emb"))
  return root


def _annotations(folder: pathlib.Path) -> list[dict]:
  return [r for p in sorted(folder.glob("annotations-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _selection(folder: pathlib.Path) -> list[dict]:
  return [r for p in sorted(folder.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_annotate_joins_scores_and_score_top30_keeps_the_top(annotated, tmp_path):
  root = annotated
  by_key, sigmoid = {}, {}
  for shard in readers.match_shards([str(root / "raw" / "*.tar")]):
    for r in pq.read_table(score_files.scores_path(str(root / "scores_emb"), shard)).to_pylist():
      by_key[r["key"]], sigmoid[r["key"]] = r["score"], r["score_sigmoid"]
  ok = {}
  for r in _annotations(root / "ann"):
    extra = json.loads(r["extra"]) if r["extra"] else {}
    if r["status"] == reasons.OK:
      assert extra[score_files.EXTRA_FIELD] == pytest.approx(by_key[r["key"]], abs=1e-6)
      assert extra[score_files.EXTRA_SIGMOID] == pytest.approx(sigmoid[r["key"]], abs=1e-6)
      ok[r["key"]] = by_key[r["key"]]
    else:
      assert score_files.EXTRA_FIELD not in extra and by_key[r["key"]] is None
  config = load_curation_config("score_top30")
  assert config.filters.score_column == f"extra.{score_files.EXTRA_FIELD}"
  summary = run_select(str(root / "ann"), config, str(tmp_path / "sel"), ONE_WORKER, show_progress=False)
  # The 70th percentile of the n ok rows is the floor(0.7 n)+1-th smallest score: the floor(0.7 n) below it fail.
  lowest = sorted(ok, key=ok.get)[:int(0.7 * len(ok))]
  assert summary["reason_counts"]["min_score_percentile"] == len(lowest) > 0
  sel = _selection(tmp_path / "sel")
  assert {r["key"] for r in sel if r["reason"] == "min_score_percentile"} == set(lowest)


def test_select_applies_semdedup_verdicts(annotated, tmp_path):
  root = annotated
  summary = sd.run_semantic_dedup(str(root / "scores_emb"), str(tmp_path / "sem"), ONE_WORKER, clusters=3,
                                  threshold=0.99, iterations=3)
  verdicts = {r["key"] for p in sorted((tmp_path / "sem").glob("semantic-*.parquet"))
              for r in pq.read_table(p).to_pylist() if r["reason"] == sd.SEMANTIC_DUP}
  assert len(verdicts) == summary[sd.SEMANTIC_DUP] > 0
  config = load_curation_config("raw", [f"dedup.semantic_dir={tmp_path / 'sem'}", "dedup.exact=False",
                                        "dedup.near=False"])
  sel_summary = run_select(str(root / "ann"), config, str(tmp_path / "sel"), ONE_WORKER, show_progress=False)
  sel = _selection(tmp_path / "sel")
  assert {r["key"] for r in sel if r["reason"] == sd.SEMANTIC_DUP} == verdicts
  assert sel_summary["reason_counts"][sd.SEMANTIC_DUP] == len(verdicts)


def test_model_failure_is_a_row_reason_not_a_crash(root, tmp_path):
  summary = score.run_score(str(root / "raw" / "*.tar"), str(tmp_path / "s"), _BrokenScorer(str(root / "work")),
                            ONE_WORKER, show_progress=False)
  rows = [r for p in sorted((tmp_path / "s").glob("scores-*.parquet")) for r in pq.read_table(p).to_pylist()]
  assert len(rows) == summary["examples"] == 30 and summary["scored"] == 0
  failed = [r for r in rows if r["error"] == score.MODEL_FAILED]
  assert len(failed) == summary[score.MODEL_FAILED] == 30 - summary["rejected"] > 0
  assert all(r["score"] is None for r in rows)


def test_m4_utility_reads_the_joined_sigmoid(annotated):
  """`balance.utility=extra.model_score_sigmoid`: M4's utilities are the model's match probabilities."""
  config = load_curation_config("m4_balanced", [f"balance.utility=extra.{score_files.EXTRA_SIGMOID}"])
  path = sorted((annotated / "ann").glob("annotations-*.parquet"))[0]
  plan = make_plan(config, [], 1, select_balance.file_indicators(pq.read_schema(path).metadata))
  table, _ = select_files.read_file(plan, str(path))
  _, _, u = select_balance.Indicators(plan.balance)(table, str(path))
  rows = pq.read_table(path).to_pylist()
  want = [json.loads(r["extra"] or "{}").get(score_files.EXTRA_SIGMOID, 0.0) for r in rows]
  assert any(want) and np.allclose(u, want, atol=1e-6)
