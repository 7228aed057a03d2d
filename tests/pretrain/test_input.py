"""Input: tar indexing, random access, decode/crop, batches, per-host split, and identical batches after a restore."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from tests.pretrain.curated_images import Example, scene_examples, write_shards
from webpairs.formats import curated as curated_shards
from webpairs.pretrain import input as inp
from webpairs.tokenizers import Tokenizer

RES, MAX_LEN = 24, 12


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir) -> Tokenizer:
  return Tokenizer.load(tokenizer_dir)


@pytest.fixture(scope="module")
def source(curated) -> inp.CuratedSource:
  return inp.make_source(str(curated / "train"))


def _dataset(source, tokenizer, **kw):
  args = dict(batch_size=8, image_size=RES, max_len=MAX_LEN, tokenizer=tokenizer, seed=3, augment="inception_crop")
  return inp.make_dataset(source, **{**args, **kw})


def test_index_and_source_return_every_example_as_written(curated, source):
  written = {e.key: e for e in scene_examples(192, seed=0)}
  assert len(source) == 192 and source.skipped == 0
  assert len(source.paths) == 6 and all(p.endswith(".tar") for p in source.paths)
  for i in (0, 31, 32, 100, 191):
    got = source[i]
    want = written[got["key"]]
    assert got["image"] == want.image and got["caption"] == want.caption
  manifest = json.loads((curated / "train" / "manifest.json").read_text())
  assert [len(curated_shards.index_tar(p)) for p in source.paths] == [s["examples"] for s in manifest["shards"]]


def test_caption_from_json_when_there_is_no_txt_and_incomplete_examples_skipped(tmp_path):
  ex = scene_examples(3, seed=5)
  path = tmp_path / "odd.tar"
  with tarfile.open(path, "w") as tar:
    def add(name, data):
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
    add(f"{ex[0].key}.{ex[0].ext}", ex[0].image)
    add(f"{ex[0].key}.json", json.dumps({"caption": ex[0].caption}).encode())
    add(f"{ex[1].key}.txt", ex[1].caption.encode())  # no image
    add(f"{ex[2].key}.{ex[2].ext}", ex[2].image)  # no caption at all
  source = inp.CuratedSource.from_paths([str(path)])
  assert len(source) == 1 and source.skipped == 2
  assert source[0]["caption"] == ex[0].caption and source[0]["image"] == ex[0].image


def test_decode_image_resizes_and_draft_decodes_large_jpegs():
  img = Image.new("RGB", (640, 320), (200, 30, 40))
  buf = io.BytesIO()
  img.save(buf, "JPEG", quality=95)
  out = inp.decode_image(buf.getvalue(), 32)
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
  np.testing.assert_allclose(out.reshape(-1, 3).mean(0), (200, 30, 40), atol=4)
  png = io.BytesIO()
  Image.new("L", (20, 50), 128).save(png, "PNG")  # grey, smaller than the target: upsampled to RGB
  assert inp.decode_image(png.getvalue(), 32).shape == (32, 32, 3)


@pytest.mark.parametrize("width,height", [(100, 100), (640, 120), (9, 300)])
def test_inception_box_stays_inside_and_covers_min_area(width, height):
  rng = np.random.default_rng(0)
  for _ in range(200):
    x0, y0, x1, y1 = inp.inception_box(rng, width, height, 0.3)
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    area = (x1 - x0) * (y1 - y0)
    # A fitting crop has >= min_area (less rounding); otherwise it falls back to the whole image.
    assert area >= 0.3 * width * height - (x1 - x0) - (y1 - y0) - 1 or area == width * height


def test_batches_hold_images_and_sticky_eos_tokens(source, tokenizer):
  it = iter(_dataset(source, tokenizer))
  batch = next(it)
  assert batch["image"].shape == (8, RES, RES, 3) and batch["image"].dtype == np.uint8
  assert batch["text"].shape == (8, MAX_LEN) and batch["text"].dtype == np.int32
  assert (batch["text"][:, -1] == tokenizer.eos_id).all()  # SigLIP pads with EOS: `last` pooling reads it
  # Shuffled: not the first 8 examples in order.
  first = tokenizer.tokenize([source[i]["caption"] for i in range(8)], MAX_LEN, eos="sticky", pad_value=1)
  assert not np.array_equal(batch["text"], first)


def test_epochs_cover_every_example_once_in_a_new_order(source, tokenizer):
  ds = inp.make_dataset(source, batch_size=8, image_size=RES, max_len=MAX_LEN, tokenizer=tokenizer, seed=0,
                        keep_captions=True)
  it = iter(ds)
  epoch1 = [k for _ in range(24) for k in next(it)["key"]]
  epoch2 = [k for _ in range(24) for k in next(it)["key"]]
  assert sorted(epoch1) == sorted(epoch2) == sorted(source.keys.astype(str).tolist())
  assert epoch1 != epoch2


def test_eval_pass_is_ordered_and_keeps_the_last_partial_batch(source, tokenizer):
  batches = list(_dataset(source, tokenizer, batch_size=50, train=False, keep_captions=True))
  assert [len(b["key"]) for b in batches] == [50, 50, 50, 42]
  assert [k for b in batches for k in b["key"]] == source.keys.astype(str).tolist()


@pytest.mark.parametrize("workers", [0, 2])
def test_restored_iterator_yields_the_same_batches(source, tokenizer, workers):
  ds = _dataset(source, tokenizer, num_workers=workers)
  it = iter(ds)
  for _ in range(5):
    next(it)
  state = json.loads(json.dumps(it.get_state()))  # what the checkpoint stores
  want = [next(it) for _ in range(30)]  # past the end of the first epoch
  again = iter(_dataset(source, tokenizer, num_workers=workers))
  again.set_state(state)
  got = [next(again) for _ in range(30)]
  for a, b in zip(want, got, strict=True):
    np.testing.assert_array_equal(a["image"], b["image"])  # crops included
    np.testing.assert_array_equal(a["text"], b["text"])


def test_undecodable_images_are_skipped_not_fatal(tmp_path, tokenizer):
  good = scene_examples(6, seed=2)
  bad = Example("broken", "jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "a red circle", "en")
  write_shards(tmp_path, [*good[:3], bad, *good[3:]], shard_size=7)
  source = inp.CuratedSource.from_paths([str(tmp_path / "shard-00000.tar")])
  batches = list(_dataset(source, tokenizer, batch_size=4, train=False, keep_captions=True))
  keys = [k for b in batches for k in b["key"]]
  assert keys == [e.key for e in good]


def test_shards_are_split_whole_per_host(curated):
  paths = curated_shards.expand(str(curated / "train"))
  parts = [inp.host_shards(paths, i, 4) for i in range(4)]
  assert sorted(p for part in parts for p in part) == paths
  assert all(part for part in parts)
  assert not set(parts[0]) & set(parts[1])
  with pytest.raises(ValueError, match="cannot be split over 7 hosts"):
    inp.host_shards(paths, 0, 7)
  two = inp.make_source(str(curated / "train"), process_index=1, process_count=2)
  assert two.paths == paths[1::2] and len(two) == 96


def test_expand_globs_folders_and_lists(curated):
  train = sorted(str(p) for p in (curated / "train").glob("*.tar"))
  assert curated_shards.expand(str(curated / "train")) == train
  assert curated_shards.expand(f"{curated}/train/shard-0000[01].tar") == train[:2]
  both = curated_shards.expand(f"{curated / 'train'},{curated / 'held_out'}")
  assert len(both) == 8
  with pytest.raises(FileNotFoundError, match="no curated shards"):
    curated_shards.expand(str(curated / "nothing-*.tar"))
