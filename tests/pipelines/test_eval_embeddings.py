"""Eval-set decontamination by embedding: crops of the real photos that perceptual hashes miss are found.

The checkpoint is a tiny SigLIP trained for 1,500 steps, with inception crops, on
the photos and their captions, so its image embeddings are crop-robust on them (a real
run would index with a large general checkpoint); other sample scenes in its training data
teach it that scenes are not the photos. The pool holds a crop (10% off each
side) and a half-size JPEG re-encode of four photos, plus unrelated sample scenes.
"""

from __future__ import annotations

import io
import json
import pathlib

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.pretrain.curated_images import Example, scene_examples, write_shards
from webpairs import cli
from webpairs.configs.curation import load_curation_config
from webpairs.curation import eval_embeddings
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.score import score
from webpairs.pipelines.index_eval.eval_embed_index import load_embedding_index
from webpairs.pipelines.select.select import run_select
from webpairs.configs import loader
from webpairs.pretrain import trainer
from webpairs.tokenizers import train_tokenizer

ONE_WORKER = ["--direct_num_workers=1"]


def _jpeg(img: Image.Image, quality: int) -> bytes:
  buf = io.BytesIO()
  img.convert("RGB").save(buf, "JPEG", quality=quality)
  return buf.getvalue()


@pytest.fixture(scope="module")
def photos_dir(shared_data) -> pathlib.Path:
  return shared_data / "real_image_captions"


@pytest.fixture(scope="module")
def root(tmp_path_factory, photos_dir) -> pathlib.Path:
  root = tmp_path_factory.mktemp("evalemb")
  captions = json.loads((photos_dir / "captions.json").read_text())
  photos = sorted(p for p in photos_dir.iterdir() if p.suffix in (".png", ".jpg"))
  small = [_jpeg(Image.open(p).resize((96, 96)), 90) for p in photos]
  train = [Example(f"{r:02d}{i}", "jpg", small[i], captions[p.name], "en") for r in range(8)
           for i, p in enumerate(photos)]
  # Sample scenes too (not the pool's): the model learns they are not the photos.
  scenes = scene_examples(2 * len(train), seed=5)
  train = [ex for k, photo in enumerate(train) for ex in (photo, scenes[2 * k], scenes[2 * k + 1])]
  write_shards(root / "train", train, 32)
  train_tokenizer(str(root / "train"), root / "tok", 600, num_threads=2)
  config = loader.load_config(loader.PRETRAIN, "siglip:tiny")
  config.input.shards = str(root / "train")
  config.input.tokenizer = str(root / "tok")
  config.input.batch_size = 16
  config.input.num_workers = 0
  config.input.augment = "inception_crop"
  config.input.min_area = 0.3
  config.total_steps = config.ckpt_every = 1500
  config.log_every = 100
  config.optax.warmup_steps = 10
  trainer.train(config, str(root / "work"))
  # The pool: a crop and a re-encode of photos 0, 2, 4, 6; unrelated scenes.
  pool = []
  for i in (0, 2, 4, 6):
    img = Image.open(photos[i]).convert("RGB")
    w, h = img.size
    pool.append(Example(f"crop{i}", "jpg", _jpeg(img.crop((w // 10, h // 10, w - w // 10, h - h // 10)), 75), "x", "en"))
    pool.append(Example(f"reenc{i}", "jpg", _jpeg(img.resize((w // 2, h // 2)), 40), "x", "en"))
  pool += [Example(f"scene{k}", e.ext, e.image, e.caption, e.lang) for k, e in enumerate(scene_examples(8, seed=3))]
  write_shards(root / "raw", pool, 8)
  inputs = str(root / "raw" / "*.tar")
  score.run_score(inputs, str(root / "scores"), score.TwoTowerScorer(str(root / "work"), batch_size=8), ONE_WORKER,
                  embeddings=True, show_progress=False)
  annotate_job.run_annotate(inputs, str(root / "ann"), ONE_WORKER, show_progress=False)
  return root


def _overlaps(sel: pathlib.Path) -> set[str]:
  rows = [r for p in sorted(sel.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  return {r["key"] for r in rows if r["reason"] == "eval_overlap:photos"}


def test_embedding_index_finds_crops_that_hashes_miss(root, photos_dir, tmp_path, capsys):
  PHOTOS = photos_dir  # noqa: N806
  assert cli.main(["curate", "index-eval", "--images", str(PHOTOS), "--name", "photos", "--output",
                   str(tmp_path / "emb.parquet"), "--checkpoint", str(root / "work")]) == 0
  assert cli.main(["curate", "index-eval", "--images", str(PHOTOS), "--name", "photos", "--output",
                   str(tmp_path / "hash.parquet")]) == 0
  assert "8 images" in capsys.readouterr().out
  index = load_embedding_index(str(tmp_path / "emb.parquet"))
  assert len(index) == 8 and index.checkpoint.endswith("@1500")
  np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1, atol=2e-3)

  crops, reencodes = {f"crop{i}" for i in (0, 2, 4, 6)}, {f"reenc{i}" for i in (0, 2, 4, 6)}
  by_hash = load_curation_config("raw", ["dedup.near=False", "dedup.exact=False",
                                         f"eval.indexes=('{tmp_path / 'hash.parquet'}',)"])
  run_select(str(root / "ann"), by_hash, str(tmp_path / "sel_hash"), ONE_WORKER, show_progress=False)
  found_by_hash = _overlaps(tmp_path / "sel_hash")
  assert found_by_hash <= reencodes and not found_by_hash & crops  # hashes miss every crop

  by_emb = load_curation_config("raw", ["dedup.near=False", "dedup.exact=False",
                                        f"eval.embedding_indexes=('{tmp_path / 'emb.parquet'}',)",
                                        f"eval.scores_dir={root / 'scores'}", "eval.embedding_threshold=0.9"])
  summary = run_select(str(root / "ann"), by_emb, str(tmp_path / "sel_emb"), ONE_WORKER, show_progress=False)
  assert _overlaps(tmp_path / "sel_emb") == crops | reencodes
  assert summary["reason_counts"]["eval_overlap:photos"] == 8


def test_index_round_trip_and_matcher():
  emb = np.eye(3, dtype=np.float32)
  index = eval_embeddings.make_index("x", ["c", "a", "b"], emb, "w@1")
  again = eval_embeddings.from_table(eval_embeddings.to_table(index))
  assert again.paths == ("a", "b", "c") and again.version == index.version
  assert eval_embeddings.make_index("x", ["a", "b", "c"], emb[[1, 2, 0]], "w@1").version == index.version
  matcher = eval_embeddings.EmbeddingMatcher(again, 0.9)
  query = np.array([[0.99, 0.1, 0], [0.6, 0.8, 0], [0, 0, -1]], np.float32)
  assert matcher.match(query).tolist() == [True, False, False]
  with pytest.raises(ValueError, match="same checkpoint"):
    matcher.match(np.zeros((1, 4), np.float32))
