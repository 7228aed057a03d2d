"""A small real detector for the detect job: connected blobs of named colours in an RGB array.

`find_blobs` finds the flat-coloured shapes of `webpairs sample` scenes (and any flat
shapes of a known palette): pixels close to a palette colour other than the background's
are grouped into connected components, and each large enough one becomes a region
"{colour} shape" with its bounding box. `webpairs.pipelines.detect.detectors` wraps it as a Beam
`ModelHandler` (this package knows nothing of Beam) so `webpairs curate detect` runs it
through RunInference like any model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

# The default palette: basic colour terms at typical flat-print RGB values. The demo's scenes are drawn in
# it (webpairs.demo.sample.scenes), so the shipped detector finds their shapes; pass another palette for other art.
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 30, 35),
    "blue": (35, 75, 210),
    "green": (40, 150, 60),
    "yellow": (245, 210, 40),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "orange": (240, 130, 25),
    "purple": (125, 50, 165),
    "pink": (240, 125, 175),
    "gray": (128, 128, 128),
    "brown": (115, 70, 35),
}

DEFAULT_TOLERANCE = 40.0  # RGB distance to a palette colour; half the closest pair's (yellow-orange 81.5)
DEFAULT_MIN_AREA = 0.002  # smallest blob kept, as a share of the image's pixels
DEFAULT_MIN_PIXELS = 16
DEFAULT_BORDER_SHARE = 0.25  # a colour on this much of the border is background
DEFAULT_MAX_SIDE = 256  # larger images are looked at every k-th pixel: exact colours, k - 1 px of box error
_STRUCTURE = np.ones((3, 3), bool)  # 8-connectivity, and the opening that removes speckles


@dataclasses.dataclass(frozen=True)
class BlobSettings:
  """What `find_blobs` needs: the palette and its thresholds (load_model's "model")."""

  palette: tuple[tuple[str, tuple[int, int, int]], ...] = tuple(NAMED_COLOURS.items())
  tolerance: float = DEFAULT_TOLERANCE
  min_area: float = DEFAULT_MIN_AREA
  min_pixels: int = DEFAULT_MIN_PIXELS
  max_side: int = DEFAULT_MAX_SIDE
  border_share: float = DEFAULT_BORDER_SHARE


def nearest_colour(pixels: np.ndarray, palette: Sequence[tuple[str, tuple[int, int, int]]],
                   tolerance: float) -> np.ndarray:
  """uint8 [H, W, 3] -> int [H, W]: index of the nearest palette colour within `tolerance`, -1 if none."""
  flat = pixels.reshape(-1, 3).astype(np.float32)
  colours = np.array([rgb for _, rgb in palette], np.float32)
  # |p - c|^2 = |p|^2 - 2 p.c + |c|^2 as one matrix product; every term is an integer below 2^24: exact.
  dist = (flat * flat).sum(1)[:, None] - 2.0 * flat @ colours.T + (colours * colours).sum(1)[None]
  best = dist.argmin(1)
  near = dist[np.arange(len(best)), best] <= tolerance * tolerance
  return np.where(near, best, -1).astype(np.int32).reshape(pixels.shape[:2])


def background_colours(labels: np.ndarray, palette_size: int, share: float) -> set[int]:
  """Palette colours that hold at least `share` of the image's border, and the most common one there.

  Shapes seldom reach the edges, while every tone of a striped or checked background does.
  """
  border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
  counts = np.bincount(border[border >= 0], minlength=palette_size)
  if not counts.any():
    return set()
  return {int(counts.argmax())} | {int(i) for i in np.flatnonzero(counts >= share * len(border))}


def find_blobs(pixels: np.ndarray, settings: BlobSettings = BlobSettings()) -> list[dict]:
  """Regions {"text": "{colour} shape", "box": [ymin, xmin, ymax, xmax]} of one RGB image, largest first.

  Pixels near a palette colour (`settings.tolerance`) other than the background's
  (`background_colours`) are opened with a 3x3 square, which removes compression
  speckles and thin gradient bands, and split into 8-connected components; those
  covering at least `min_area` of the image and `min_pixels` become regions. Images
  larger than `max_side` are looked at every k-th pixel.
  """
  pixels = np.asarray(pixels)
  if pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
    raise ValueError(f"expected uint8 [H, W, 3] pixels, got shape {pixels.shape}")
  h, w = pixels.shape[:2]
  # Every k-th pixel, not a resampled image: resampling would mix colours at the edges.
  k = max(1, -(-max(h, w) // settings.max_side))
  labels = nearest_colour(pixels[::k, ::k], settings.palette, settings.tolerance)
  background = background_colours(labels, len(settings.palette), settings.border_share)
  min_pixels = max(settings.min_pixels, settings.min_area * labels.size)
  counts = np.bincount(labels[labels >= 0], minlength=len(settings.palette))
  found = []
  for i, (name, _) in enumerate(settings.palette):
    if i in background or counts[i] < min_pixels:
      continue
    mask = ndimage.binary_opening(labels == i, structure=_STRUCTURE)
    if not mask.any():
      continue
    blobs, n = ndimage.label(mask, structure=_STRUCTURE)
    sizes = np.bincount(blobs.ravel(), minlength=n + 1)
    for j, where in enumerate(ndimage.find_objects(blobs), start=1):
      if where is None or sizes[j] < min_pixels:
        continue
      ys, xs = where
      box = [ys.start * k / h, xs.start * k / w, min(ys.stop * k, h) / h, min(xs.stop * k, w) / w]
      found.append((int(sizes[j]), {"text": f"{name} shape", "box": [round(v, 6) for v in box]}))
  found.sort(key=lambda f: (-f[0], f[1]["text"], f[1]["box"]))
  return [region for _, region in found]
