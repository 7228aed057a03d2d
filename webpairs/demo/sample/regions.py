"""Ground-truth region annotations of a drawn scene, in the form curated shards carry them.

A region is {"text": "red circle", "box": [ymin, xmin, ymax, xmax]} with the box normalised
to [0, 1] by the image's height and width (the order LocCa's location tokens use). Region
texts are English "{colour} {shape}", as a detector's labels would be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

_DIGITS = 6  # sub-pixel for any image under a million pixels a side; keeps the json short


def region_text(colour: str, shape: str) -> str:
  return f"{colour} {shape}"


def normalised_box(box: Iterable[float], width: int, height: int) -> list[float]:
  """Pixel (x0, y0, x1, y1), x1/y1 exclusive -> [ymin, xmin, ymax, xmax] in [0, 1]."""
  if width <= 0 or height <= 0:
    raise ValueError(f"image size must be positive, got {width}x{height}")
  x0, y0, x1, y1 = (float(v) for v in box)
  return [round(min(max(v, 0.0), 1.0), _DIGITS) for v in (y0 / height, x0 / width, y1 / height, x1 / width)]


def regions_from_objects(objects: Iterable[Mapping], width: int, height: int) -> list[dict]:
  """The sample's drawn objects ({shape, colour, box in pixels}) -> regions in drawing order.

  Objects with no area inside the image (a shape moved off the edge) are left out.
  """
  out = []
  for o in objects:
    box = normalised_box(o["box"], width, height)
    if box[2] > box[0] and box[3] > box[1]:
      out.append({"text": region_text(o["colour"], o["shape"]), "box": box})
  return out
