"""Regions in the training input: parsed from the example json, moved with the image's crop, turned into LocCa's
aref/gcap batch fields that a restored iterator rebuilds exactly."""

from __future__ import annotations

import io
import json
import logging
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.pretrain.conftest import LOC_BINS
from tests.pretrain.curated_images import scene_examples
from webpairs.pretrain import input as inp
from webpairs.pretrain import sharding
from webpairs.pretrain.objectives import locca_boxes
from webpairs.pretrain.input import preprocess, regions
from webpairs.tokenizers import Tokenizer

RES, MAX_LEN, REGION_LEN = 24, 12, 24
OPTIONS = regions.RegionOptions(bins=LOC_BINS, style="loc", loss_on="target", max_len=REGION_LEN)


@pytest.fixture(scope="module")
def loc_tokenizer(loc_tokenizer_dir) -> Tokenizer:
  return Tokenizer.load(loc_tokenizer_dir)


@pytest.fixture(scope="module")
def region_source(curated) -> inp.CuratedSource:
  return inp.make_source(str(curated / "train"), regions=True)


def _dataset(source, tokenizer, **kw):
  args = {"batch_size": 8, "image_size": RES, "max_len": MAX_LEN, "tokenizer": tokenizer, "seed": 3,
          "augment": "inception_crop", "regions": OPTIONS}
  return inp.make_dataset(source, **{**args, **kw})


# Parsing.

def test_parse_regions_keeps_well_formed_entries_and_flags_faults():
  good = {"text": "red circle", "box": [0.1, 0.2, 0.5, 0.6]}
  want = [{"text": "red circle", "box": (0.1, 0.2, 0.5, 0.6)}]
  assert regions.parse_regions(json.dumps({"regions": [good]}).encode()) == (want, True)
  assert regions.parse_regions({"caption": "no regions"}) == ([], True)
  assert regions.parse_regions(None) == ([], True)  # no json member
  assert regions.parse_regions(json.dumps({"regions": []})) == ([], True)
  assert regions.parse_regions(b"{not json") == ([], False)
  assert regions.parse_regions(b"\xff\xfe") == ([], False)
  assert regions.parse_regions(b"[1, 2]") == ([], False)
  assert regions.parse_regions(json.dumps({"regions": "red circle"})) == ([], False)
  bad_entries = [good, {"text": "blue", "box": [0, 0, 1]}, {"box": [0, 0, 1, 1]}, "square",
                 {"text": "green", "box": [0, "a", 1, 1]}, {"text": "pink", "box": [True, 0, 1, 1]}]
  assert regions.parse_regions({"regions": bad_entries}) == (want, False)


# Boxes through a crop.

def test_a_known_crop_maps_known_boxes_to_known_boxes():
  # A 100 x 80 image cropped to x 20..70, y 10..50: (ymin, xmin, ymax, xmax) = (0.125, 0.2, 0.625, 0.7).
  crop = regions.pixel_crop_to_normalised((20, 10, 70, 50), 100, 80)
  assert crop == (0.125, 0.2, 0.625, 0.7)
  boxes = np.array([
      [0.25, 0.3, 0.5, 0.6],     # inside
      [0.0, 0.2, 0.25, 0.7],     # half its height above the crop: exactly min_visible, kept and cut
      [0.0, 0.2, 0.225, 0.7],    # 0.1 / 0.225 = 44% inside: dropped
      [0.7, 0.75, 0.9, 0.95],    # wholly outside
      [-0.5, 0.2, 0.375, 0.7],   # overhangs the image: clipped to y 0..0.375 first, then 2/3 inside
      [np.nan, 0.1, 0.2, 0.3],   # not finite
      [0.3, 0.3, 0.3, 0.6],      # no height
  ])
  out, keep = regions.crop_boxes(boxes, crop, min_visible=0.5)
  np.testing.assert_array_equal(keep, [True, True, False, False, True, False, False])
  np.testing.assert_allclose(out[keep], [[0.25, 0.2, 0.75, 0.8], [0.0, 0.0, 0.25, 1.0], [0.0, 0.0, 0.5, 1.0]],
                             atol=1e-12)
  assert (out[~keep] == 0).all()
  # The whole image as the crop changes no box inside it; min_visible 0 keeps any overlap.
  whole, kept = regions.crop_boxes(boxes[:1], (0.0, 0.0, 1.0, 1.0))
  np.testing.assert_array_equal(whole, boxes[:1])
  assert kept.all()
  assert regions.crop_boxes(boxes[2:3], crop, min_visible=0.0)[1].all()
  with pytest.raises(ValueError, match="no area"):
    regions.crop_boxes(boxes, (0.5, 0.2, 0.5, 0.7))


unit = st.floats(0.0, 1.0)
coordinate = st.one_of(st.floats(-2.0, 3.0), st.sampled_from([np.nan, np.inf, -np.inf]))


@st.composite
def _crops(draw):
  y0, x0 = draw(st.floats(0.0, 0.9)), draw(st.floats(0.0, 0.9))
  return y0, x0, draw(st.floats(y0 + 0.05, 1.0)), draw(st.floats(x0 + 0.05, 1.0))


@settings(max_examples=300, deadline=None)
@given(boxes=st.lists(st.tuples(*[coordinate] * 4), max_size=8),
       crop=_crops(), min_visible=unit)
def test_every_kept_box_lies_in_the_unit_square_with_positive_area(boxes, crop, min_visible):
  arr = np.array(boxes, np.float64).reshape(-1, 4)
  out, keep = regions.crop_boxes(arr, crop, min_visible)
  kept = out[keep]
  assert ((kept >= 0) & (kept <= 1)).all()
  assert ((kept[:, 2] > kept[:, 0]) & (kept[:, 3] > kept[:, 1])).all()
  assert (out[~keep] == 0).all()


def test_decode_image_moves_a_drawn_rectangles_box_with_the_crop():
  img = Image.new("RGB", (200, 160), (255, 255, 255))
  img.paste((220, 0, 0), (60, 40, 140, 120))  # x 60..140, y 40..120
  png = io.BytesIO()
  img.save(png, "PNG")
  region = {"text": "red rectangle", "box": (40 / 160, 60 / 200, 120 / 160, 140 / 200)}
  decode = preprocess.DecodeImage(64, "inception_crop", min_area=0.2, min_visible=0.0)
  seen = 0
  for seed in range(40):
    out = decode({"key": "k", "image": png.getvalue(), "regions": [region]}, np.random.default_rng(seed))
    red = (out["image"][..., 0] > 150) & (out["image"][..., 1] < 100)
    if not out["regions"]:
      assert red.sum() == 0  # dropped only when the crop misses it
      continue
    seen += 1
    rows, cols = np.flatnonzero(red.any(axis=1)), np.flatnonzero(red.any(axis=0))
    drawn = np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1]) / 64
    # Within two output pixels (bilinear resize blurs the edges).
    np.testing.assert_allclose(out["regions"][0]["box"], drawn, atol=2 / 64)
  assert seen >= 30
  # Without a crop the boxes pass unchanged.
  plain = preprocess.DecodeImage(64)({"key": "k", "image": png.getvalue(), "regions": [region]}, None)
  np.testing.assert_allclose(plain["regions"][0]["box"], region["box"])


# The source.

def test_source_returns_the_regions_written_and_reads_the_json_only_when_asked(curated, region_source, monkeypatch):
  written = {e.key: e for e in scene_examples(192, seed=0)}
  for i in (0, 40, 191):
    got = region_source[i]
    assert got["regions"] == [{"text": r["text"], "box": tuple(r["box"])} for r in written[got["key"]].regions]
    assert got["regions"]  # every fixture scene has shapes
  plain = inp.make_source(str(curated / "train"))
  assert "regions" not in plain[0]
  for source, reads in ((plain, 2), (region_source, 3)):  # image + txt, then + json
    calls = []
    read = source._reader.read
    monkeypatch.setattr(source._reader, "read", lambda *a, read=read, calls=calls: calls.append(a) or read(*a))
    source[5]
    assert len(calls) == reads


def test_unreadable_regions_become_none_and_are_counted(tmp_path, caplog):
  ex = scene_examples(5, seed=4)
  metas = [b"{not json", json.dumps({"regions": "oops"}).encode(),
           json.dumps({"regions": [{"text": "red circle", "box": [0.1, 0.1, 0.4]},
                                   {"text": "blue star", "box": [0.2, 0.2, 0.6, 0.6]}]}).encode(),
           json.dumps({"caption": "x"}).encode(), None]
  path = tmp_path / "odd.tar"
  with tarfile.open(path, "w") as tar:
    for e, meta in zip(ex, metas, strict=True):
      for name, data in ((f"{e.key}.{e.ext}", e.image), (f"{e.key}.txt", e.caption.encode()),
                         (f"{e.key}.json", meta)):
        if data is not None:
          info = tarfile.TarInfo(name)
          info.size = len(data)
          tar.addfile(info, io.BytesIO(data))
  source = inp.CuratedSource.from_paths([str(path)], regions=True)
  with caplog.at_level(logging.WARNING):
    got = [source[i]["regions"] for i in range(5)]
  assert got == [[], [], [{"text": "blue star", "box": (0.2, 0.2, 0.6, 0.6)}], [], []]
  assert source.region_faults.count == 3
  assert sum("unreadable regions" in r.message for r in caplog.records) == 3
  assert [source[i]["caption"] for i in range(5)] == [e.caption for e in ex]


# Batches.

def test_batches_carry_region_rows_that_decode_to_an_examples_region(region_source, loc_tokenizer):
  batch = next(iter(_dataset(region_source, loc_tokenizer, augment="none", keep_captions=True)))
  for field in regions.FIELDS:
    assert batch[field].shape == (8, REGION_LEN)
    assert batch[field].dtype == (np.int32 if field.endswith("tokens") else np.float32)
  assert "regions" not in batch and batch["text"].shape == (8, MAX_LEN)
  by_key = {region_source.keys[i].decode(): i for i in range(len(region_source))}
  for row, key in enumerate(batch["key"]):
    truth = region_source[by_key[key]]["regions"]
    aref = loc_tokenizer.decode(batch["aref_tokens"][row])
    prompt, _, box_part = aref.rpartition(":")
    text = prompt.removeprefix("aref:").strip()
    box = locca_boxes.parse_box(box_part, LOC_BINS)
    # Uncropped: the box is one of this example's regions with that text, quantised.
    assert any(r["text"] == text and np.allclose(
        box, locca_boxes.dequantize(locca_boxes.quantize(r["box"], LOC_BINS), LOC_BINS)) for r in truth), (aref, truth)
    assert loc_tokenizer.decode(batch["gcap_tokens"][row]).endswith(f": {text}")
    # Loss on the target: the box pieces and EOS (after the prompt's tokens), not the prompt.
    n_prompt = len(loc_tokenizer.encode([locca_boxes.aref_prompt(text)])[0])
    assert batch["aref_weights"][row, :n_prompt].sum() == 0 and batch["aref_weights"][row].sum() == 6


def test_device_batches_carry_the_region_fields(region_source, loc_tokenizer):
  data = inp.DeviceIterator(_dataset(region_source, loc_tokenizer), sharding.batch_sharding(sharding.make_mesh()))
  try:
    batch = next(data)
  finally:
    data.close()
  assert set(batch) == {"image", "text", *regions.FIELDS}
  assert batch["aref_tokens"].shape == (8, REGION_LEN) and batch["gcap_weights"].dtype == np.float32


def test_cropped_region_rows_are_rebuilt_exactly_after_a_restore(region_source, loc_tokenizer):
  it = iter(_dataset(region_source, loc_tokenizer))
  for _ in range(3):
    next(it)
  state = json.loads(json.dumps(it.get_state()))
  want = [next(it) for _ in range(3)]
  again = iter(_dataset(region_source, loc_tokenizer))
  again.set_state(state)
  for a, b in zip(want, [next(again) for _ in range(3)], strict=True):
    for field in ("image", *regions.FIELDS):
      np.testing.assert_array_equal(a[field], b[field])
  # Crops drop some regions but most examples keep one; another seed draws other crops and regions.
  weighted = np.concatenate([(b["aref_weights"].sum(axis=1) > 0) for b in want])
  assert 0.6 <= weighted.mean()
  other = next(iter(_dataset(region_source, loc_tokenizer, seed=4)))
  assert not np.array_equal(other["aref_tokens"], next(iter(_dataset(region_source, loc_tokenizer)))["aref_tokens"])


def test_batch_seed_is_stable_and_depends_on_seed_and_keys():
  assert regions.batch_seed(7, ["a", "b"]) == [7, regions.batch_seed(0, ["a", "b"])[1]]
  assert regions.batch_seed(0, ["a", "b"]) != regions.batch_seed(0, ["b", "a"])
  # Not Python's salted hash(): the same in every process.
  assert regions.batch_seed(0, ["a", "b"]) == [0, 6888081726617775527]


def test_loc_style_needs_loc_pieces_and_a_region_source(curated, region_source, tokenizer_dir, loc_tokenizer):
  plain_tok = Tokenizer.load(tokenizer_dir)
  with pytest.raises(ValueError, match=r"lacks the <locNNNN> pieces for 32 box bins .*--loc-tokens 32"):
    _dataset(region_source, plain_tok)
  with pytest.raises(ValueError, match="lacks the <locNNNN> pieces for 100 box bins"):
    _dataset(region_source, loc_tokenizer, regions=regions.RegionOptions(bins=100))  # only 32 pieces
  ints = next(iter(_dataset(region_source, plain_tok, regions=regions.RegionOptions(bins=100, style="int",
                                                                                   max_len=40))))
  assert (ints["aref_weights"].sum(axis=1) > 0).any()
  with pytest.raises(ValueError, match="make_source"):
    _dataset(inp.make_source(str(curated / "train")), loc_tokenizer)
  with pytest.raises(ValueError, match="style"):
    regions.RegionOptions(style="words")
