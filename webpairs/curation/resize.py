"""Shorter-side resize for curated shards: keep the aspect ratio, never upscale, JPEG out.

The whole picture is kept (no crop), so normalised region boxes stay valid; only an EXIF
rotation, which the resize applies to the pixels, moves them (`Resized.orientation`,
curation.regions.orient_regions).
"""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from webpairs.formats.images import upright_rgb

DEFAULT_QUALITY = 95  # high enough that a second JPEG generation costs no visible detail
_ORIENTATION_TAG = 0x0112


@dataclasses.dataclass(frozen=True)
class Resized:
  """Encoded image bytes and their pixel size after `resize_shorter_side`.

  `orientation`: the EXIF orientation applied to the stored pixels (1: none).
  """

  data: bytes
  width: int
  height: int
  ext: str = "jpg"
  orientation: int = 1


def target_size(width: int, height: int, shorter_side: int) -> tuple[int, int]:
  """(w, h) with the shorter side at most `shorter_side`, aspect kept (rounded, >= 1 px)."""
  short = min(width, height)
  if short <= shorter_side:
    return width, height
  scale = shorter_side / short
  return max(1, round(width * scale)), max(1, round(height * scale))


def resize_shorter_side(data: bytes, shorter_side: int, quality: int = DEFAULT_QUALITY) -> Resized:
  """`data` (any PIL-readable image) as a JPEG whose shorter side is at most `shorter_side`.

  A JPEG that is already small enough and needs no EXIF rotation keeps its bytes (no
  second generation of JPEG loss). Raises on undecodable input: callers record a reason.
  """
  if shorter_side <= 0:
    raise ValueError(f"shorter_side must be positive, got {shorter_side}")
  with Image.open(io.BytesIO(data)) as img:
    orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    rotated = orientation not in (1, None)
    if img.format == "JPEG" and not rotated and min(img.size) <= shorter_side:
      return Resized(data, img.width, img.height)
    if img.format == "JPEG":
      # DCT scaling decodes at 1/2, 1/4 or 1/8 size, never below the target: much faster.
      img.draft("RGB", target_size(img.width, img.height, shorter_side))
    img.seek(0)  # first frame of animations
    out = upright_rgb(img)
  size = target_size(out.width, out.height, shorter_side)
  if size != out.size:
    out = out.resize(size, Image.Resampling.LANCZOS)
  buf = io.BytesIO()
  out.save(buf, format="JPEG", quality=quality)
  # exif_transpose applies orientations 2..8 only; anything else leaves the pixels as stored.
  applied = orientation if isinstance(orientation, int) and 2 <= orientation <= 8 else 1
  return Resized(buf.getvalue(), out.width, out.height, orientation=applied)
