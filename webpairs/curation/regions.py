"""Region annotations: validate and clean `[{text, box}]` lists from raw json, parquet or detectors.

A region is {"text": str, "box": [ymin, xmin, ymax, xmax]} with the box normalised to
[0, 1] by the image's height and width (LocCa / PaliGemma order), on the pixels as stored
(no EXIF rotation applied, as annotate's width and height). Cleaning never raises:
what is not a region is dropped and counted, so a malformed list never costs an example.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DIGITS = 6  # rounding of normalised coordinates: sub-pixel below a million pixels a side

# EXIF orientation (as PIL.ImageOps.exif_transpose applies it) -> how a normalised
# (ymin, xmin, ymax, xmax) box of the stored pixels maps onto the upright picture.
_FLIP_X, _FLIP_Y, _SWAP = 1, 2, 4
_ORIENTATIONS = {1: 0, 2: _FLIP_X, 3: _FLIP_X | _FLIP_Y, 4: _FLIP_Y, 5: _SWAP,
                 6: _SWAP | _FLIP_X, 7: _SWAP | _FLIP_X | _FLIP_Y, 8: _SWAP | _FLIP_Y}


def clean_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """float [..., 4] -> (boxes clipped to [0, 1], bool [...] valid); webpairs.pretrain.objectives.locca_boxes' rule.

  Invalid: any non-finite coordinate, or no area left after clipping (ymax <= ymin or
  xmax <= xmin), which covers boxes wholly outside the image.
  """
  boxes = np.asarray(boxes, np.float64)
  finite = np.isfinite(boxes).all(axis=-1)
  clipped = np.clip(np.where(np.isfinite(boxes), boxes, 0.0), 0.0, 1.0)
  valid = finite & (clipped[..., 2] > clipped[..., 0]) & (clipped[..., 3] > clipped[..., 1])
  return clipped, valid


def _text(value: Any) -> str | None:
  """A non-empty region text, ends stripped; lone surrogates (from \\ud800 escapes) become U+FFFD."""
  if not isinstance(value, str):
    return None
  value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").strip()
  return value or None


def _coords(value: Any) -> list[float] | None:
  """Four numbers (JSON or numpy; bools and strings are not numbers), huge ones as inf, else None."""
  if isinstance(value, np.ndarray):
    value = value.tolist()
  if not isinstance(value, (list, tuple)) or len(value) != 4:
    return None
  out = []
  for v in value:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
      return None
    try:
      out.append(float(v))
    except OverflowError:  # an int past float range: no finite place on the image
      out.append(math.inf)
  return out


def clean_regions(value: Any) -> tuple[list[dict], int]:
  """Raw regions -> (valid regions in input order, number dropped).

  `value`: a list of regions, its JSON text (a parquet string column), or None (no
  regions, nothing dropped). Anything else counts as one dropped entry. A region needs a
  non-empty string `text` and a `box` of four numbers; boxes are clipped to [0, 1],
  rounded to DIGITS and dropped when non-finite or without area. Other keys are left out.
  """
  if value is None:
    return [], 0
  if isinstance(value, (str, bytes)):
    try:
      value = json.loads(value)
    except (ValueError, RecursionError):
      return [], 1
    if value is None:
      return [], 0
  if not isinstance(value, (list, tuple)):
    return [], 1
  texts, boxes = [], []
  for r in value:
    text = _text(r.get("text")) if isinstance(r, Mapping) else None
    coords = _coords(r.get("box")) if text is not None else None
    if coords is not None:
      texts.append(text)
      boxes.append(coords)
  if not boxes:
    return [], len(value)
  clipped, valid = clean_boxes(np.array(boxes, np.float64))
  kept = []
  for text, box, ok in zip(texts, clipped.tolist(), valid.tolist()):
    box = [round(v, DIGITS) + 0.0 for v in box]  # + 0.0: no "-0.0" in the json
    if ok and box[2] > box[0] and box[3] > box[1]:  # rounding may close a hair-thin box
      kept.append({"text": text, "box": box})
  return kept, len(value) - len(kept)


def to_json(regions: Sequence[Mapping]) -> str | None:
  """Cleaned regions -> the compact JSON list annotation and sidecar columns hold; None for none."""
  if not regions:
    return None
  return json.dumps([{"text": r["text"], "box": list(r["box"])} for r in regions], ensure_ascii=False,
                    separators=(",", ":"))


def from_json(text: str | None) -> list[dict]:
  """A `regions` column value (JSON list or null) -> the list itself, [] for null."""
  return json.loads(text) if text else []


def orient_box(box: Sequence[float], orientation: int) -> list[float]:
  """A box of the stored pixels -> the same box after EXIF `orientation` is applied (1: unchanged)."""
  ops = _ORIENTATIONS.get(orientation, 0)
  y0, x0, y1, x1 = box
  if ops & _SWAP:  # transpose: rows become columns
    y0, x0, y1, x1 = x0, y0, x1, y1
  if ops & _FLIP_X:
    x0, x1 = 1.0 - x1, 1.0 - x0
  if ops & _FLIP_Y:
    y0, y1 = 1.0 - y1, 1.0 - y0
  return [round(v, DIGITS) + 0.0 for v in (y0, x0, y1, x1)]


def orient_regions(regions: Sequence[Mapping], orientation: int) -> list[dict]:
  """Every region's box through `orient_box`; texts unchanged."""
  return [{"text": r["text"], "box": orient_box(r["box"], orientation)} for r in regions]
