"""Region cleaning: malformed entries dropped and counted, boxes clipped and rounded, EXIF turns exact."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from webpairs.curation import regions


def test_good_regions_pass_unchanged_and_json_round_trips():
  given = [{"text": "red circle", "box": [0.1, 0.2, 0.5, 0.6]}, {"text": "blue star", "box": [0, 0, 1, 1]}]
  kept, dropped = regions.clean_regions(given)
  assert kept == [{"text": "red circle", "box": [0.1, 0.2, 0.5, 0.6]},
                  {"text": "blue star", "box": [0.0, 0.0, 1.0, 1.0]}]
  assert dropped == 0
  text = regions.to_json(kept)
  assert text == '[{"text":"red circle","box":[0.1,0.2,0.5,0.6]},{"text":"blue star","box":[0.0,0.0,1.0,1.0]}]'
  assert regions.clean_regions(text) == (kept, 0)  # a parquet string column reads the same
  assert regions.from_json(text) == kept
  assert regions.to_json([]) is None and regions.from_json(None) == []


def test_boxes_are_clipped_rounded_and_texts_stripped():
  kept, dropped = regions.clean_regions([
      {"text": "  gray square ", "box": [-0.25, 0.1234567891, 1.5, np.float32(0.5)], "score": 0.9},
      {"text": "big", "box": np.array([0, 0, 2, 2])},
  ])
  assert kept == [{"text": "gray square", "box": [0.0, 0.123457, 1.0, 0.5]},
                  {"text": "big", "box": [0.0, 0.0, 1.0, 1.0]}]
  assert dropped == 0
  assert json.dumps(kept[0]["box"]) == "[0.0, 0.123457, 1.0, 0.5]"  # no -0.0


@pytest.mark.parametrize("value,dropped", [
    (None, 0),
    ("null", 0),
    ([], 0),
    ("not json", 1),
    ({"text": "a", "box": [0, 0, 1, 1]}, 1),  # an object, not a list
    (17, 1),
    ([{"text": "", "box": [0, 0, 1, 1]}, {"text": "   ", "box": [0, 0, 1, 1]}], 2),
    ([{"text": 5, "box": [0, 0, 1, 1]}, {"box": [0, 0, 1, 1]}, "red", None, [0, 0, 1, 1]], 5),
    ([{"text": "a", "box": [0, 0, 1]}, {"text": "a", "box": [0, 0, 1, 1, 1]}, {"text": "a"}], 3),
    ([{"text": "a", "box": ["0", 0, 1, 1]}, {"text": "a", "box": [0, 0, True, 1]}, {"text": "a", "box": "0 0 1 1"}], 3),
    ([{"text": "a", "box": [float("nan"), 0, 1, 1]}, {"text": "a", "box": [0, 0, float("inf"), 1]},
      {"text": "a", "box": [0, 0, 10**400, 1]}], 3),
    ([{"text": "a", "box": [0.5, 0, 0.5, 1]}, {"text": "a", "box": [0.6, 0, 0.4, 1]},
      {"text": "a", "box": [1.2, 0, 1.5, 1]}, {"text": "a", "box": [0, 0.3, 1, 0.3000001]}], 4),
])
def test_malformed_regions_are_dropped_and_counted(value, dropped):
  assert regions.clean_regions(value) == ([], dropped)


def test_a_bad_region_costs_only_itself():
  value = '[{"text": "ok", "box": [0, 0, 0.5, 0.5]}, {"text": "\\ud800x", "box": [0, 0, 1, 1]}, {"text": "a", "box": []}]'
  kept, dropped = regions.clean_regions(value)
  assert [r["text"] for r in kept] == ["ok", "\ufffd\ufffd\ufffdx"]  # a lone surrogate cannot go to parquet
  assert dropped == 1
  regions.to_json(kept).encode("utf-8")


def test_clean_boxes_matches_the_locca_rule():
  boxes = np.array([[0.1, 0.1, 0.2, 0.3], [-1, -1, 2, 2], [0.5, 0.5, 0.5, 0.9], [np.nan, 0, 1, 1]])
  clipped, valid = regions.clean_boxes(boxes)
  assert valid.tolist() == [True, True, False, False]
  assert clipped[1].tolist() == [0, 0, 1, 1]


def _marked(width: int, height: int, box_px: tuple[int, int, int, int]) -> Image.Image:
  img = Image.new("RGB", (width, height), (0, 0, 0))
  img.paste((255, 255, 255), box_px)
  return img


def _white_box(img: Image.Image) -> list[float]:
  a = np.asarray(img)[..., 0] > 128
  ys, xs = np.nonzero(a)
  h, w = a.shape
  return [ys.min() / h, xs.min() / w, (ys.max() + 1) / h, (xs.max() + 1) / w]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_box_follows_pil_exif_transpose(orientation):
  img = _marked(40, 20, (4, 2, 14, 8))  # x0, y0, x1, y1 in pixels
  stored = _white_box(img)
  assert stored == [0.1, 0.1, 0.4, 0.35]
  exif = Image.Exif()
  exif[0x0112] = orientation
  buf = io.BytesIO()
  img.save(buf, "PNG", exif=exif.tobytes())
  upright = ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue())))
  assert regions.orient_box(stored, orientation) == pytest.approx(_white_box(upright))
  turned = regions.orient_regions([{"text": "t", "box": stored}], orientation)
  assert turned == [{"text": "t", "box": regions.orient_box(stored, orientation)}]
