"""The curated-shard reader: GIF, BMP and TIFF examples curated without --resize (the real annotate -> select ->
materialize path) are read by the trainer input, the tokenizer and the curated eval set, as many as the manifest
says."""

from __future__ import annotations

import io
import json
import pathlib
import tarfile

import numpy as np
import pytest
from PIL import Image

from tests.pipelines.tarutil import tar_bytes
from tests.pretrain.curated_images import scene_examples
from webpairs.configs.curation import base_config
from webpairs.eval.datasets import curated as curated_eval
from webpairs.formats import curated
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.materialize.materialize import run_materialize
from webpairs.pipelines.select import select as select_job
from webpairs.pretrain.input import decode_image, make_source
from webpairs.tokenizers import shards

ONE_WORKER = ["--direct_num_workers=1"]
FORMATS = {"gif": "GIF", "bmp": "BMP", "tiff": "TIFF"}
PER_FORMAT = 2


def _reencode(data: bytes, fmt: str) -> bytes:
  with Image.open(io.BytesIO(data)) as img:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt)
  return buf.getvalue()


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory) -> pathlib.Path:
  """Curated shards of one raw tar of GIF/BMP/TIFF examples; the neutral config keeps every readable one."""
  root = tmp_path_factory.mktemp("curated_formats")
  members = []
  for i, ex in enumerate(scene_examples(len(FORMATS) * PER_FORMAT, seed=4, max_side=48)):
    ext = list(FORMATS)[i % len(FORMATS)]
    members += [(f"{ex.key}.{ext}", _reencode(ex.image, FORMATS[ext])), (f"{ex.key}.txt", ex.caption.encode()),
                (f"{ex.key}.json", json.dumps({"caption": ex.caption}, ensure_ascii=False).encode())]
  (root / "raw").mkdir()
  (root / "raw" / "00000.tar").write_bytes(tar_bytes(members))
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(root / "annotations"), ONE_WORKER, show_progress=False)
  select_job.run_select(str(root / "annotations"), base_config(), str(root / "selection"), ONE_WORKER,
                        show_progress=False)
  run_materialize(str(root / "selection"), str(root / "shards"), pipeline_args=ONE_WORKER, shard_size=4,
                  show_progress=False)
  return root / "shards"


@pytest.fixture(scope="module")
def manifest(shards_dir) -> dict:
  return json.loads((shards_dir / "manifest.json").read_text())


def test_shards_keep_the_raw_formats(shards_dir, manifest):
  assert manifest["resize"] is None and manifest["examples"] == len(FORMATS) * PER_FORMAT
  assert manifest["num_shards"] > 1  # the reader must join shards
  found = []
  for entry in manifest["shards"]:
    with tarfile.open(shards_dir / entry["name"]) as tar:
      for info in tar:
        if not info.name.endswith((".txt", ".json")):
          with Image.open(tar.extractfile(info)) as img:
            found.append(img.format)
  assert sorted(found) == sorted(list(FORMATS.values()) * PER_FORMAT)


def test_trainer_input_reads_every_example_of_the_manifest(shards_dir, manifest):
  source = make_source(str(shards_dir), 0, 1)
  assert [pathlib.Path(p).name for p in source.paths] == [s["name"] for s in manifest["shards"]]
  assert [len(curated.index_tar(p)) for p in source.paths] == [s["examples"] for s in manifest["shards"]]
  assert len(source) == manifest["examples"] and source.skipped == 0
  pixels = np.stack([decode_image(source[i]["image"], 16) for i in range(len(source))])
  assert pixels.shape == (manifest["examples"], 16, 16, 3) and pixels.std() > 0


def test_tokenizer_reads_every_example_of_the_manifest(shards_dir, manifest):
  from_sidecars = list(shards.iter_captions(shards.expand_shards(str(shards_dir))))
  from_tars = list(shards.iter_captions(curated.expand(str(shards_dir))))
  assert len(from_sidecars) == manifest["examples"]
  assert from_tars == from_sidecars
  assert sum(manifest["lang_counts"].values()) == manifest["examples"]


def test_curated_eval_set_reads_every_example_of_the_manifest(shards_dir, manifest):
  data = curated_eval.load(str(shards_dir))
  assert len(data) == manifest["examples"]
  batches = list(data.image_batches(16, batch_size=4))
  assert sum(len(b) for b in batches) == manifest["examples"]
  source = make_source(str(shards_dir), 0, 1)
  assert list(data.captions) == [source[i]["caption"] for i in range(len(source))]
