"""Image encoding with fixed parameters, and the edits that make near-duplicates."""

from __future__ import annotations

import dataclasses
import io
import math

from PIL import Image

FORMATS = ("jpeg", "png", "webp")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}


def encode(img: Image.Image, fmt: str, quality: int) -> bytes:
  """Encodes with fixed settings only, so the same pixels always give the same bytes."""
  buf = io.BytesIO()
  if fmt == "jpeg":
    img.save(buf, "JPEG", quality=quality, subsampling="4:2:0", optimize=False, progressive=False)
  elif fmt == "png":
    img.save(buf, "PNG", compress_level=6, optimize=False)
  elif fmt == "webp":
    img.save(buf, "WEBP", quality=quality, method=4, lossless=False)
  else:
    raise ValueError(f"unknown format {fmt!r}")
  return buf.getvalue()


def decode(data: bytes) -> Image.Image:
  with Image.open(io.BytesIO(data)) as img:
    img.load()
    return img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()


@dataclasses.dataclass(frozen=True)
class NearDupEdit:
  """How a near-duplicate is made from its original's decoded pixels.

  reencode: same pixels, another format or quality; resize: by `scale`; crop: `crop`
  is the share cut from the (left, top, right, bottom) sides.
  """

  kind: str
  fmt: str
  quality: int
  scale: float = 1.0
  crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

  def crop_box(self, width: int, height: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = self.crop
    return (round(left * width), round(top * height), width - round(right * width),
            height - round(bottom * height))

  def output_size(self, width: int, height: int) -> tuple[int, int]:
    if self.kind == "resize":
      return max(1, round(width * self.scale)), max(1, round(height * self.scale))
    if self.kind == "crop":
      x0, y0, x1, y1 = self.crop_box(width, height)
      return x1 - x0, y1 - y0
    return width, height

  def apply(self, img: Image.Image) -> Image.Image:
    if self.kind == "resize":
      return img.resize(self.output_size(*img.size), Image.Resampling.LANCZOS)
    if self.kind == "crop":
      return img.crop(self.crop_box(*img.size))
    return img

  def move_box(self, box: list[int], width: int, height: int) -> list[int] | None:
    """Where an object's box lands in the edited image; None when cropped away."""
    x0, y0, x1, y1 = box
    if self.kind == "resize":
      w, h = self.output_size(width, height)
      sx, sy = w / width, h / height
      return [math.floor(x0 * sx), math.floor(y0 * sy),
              min(w, math.ceil(x1 * sx)), min(h, math.ceil(y1 * sy))]
    if self.kind == "crop":
      cx0, cy0, cx1, cy1 = self.crop_box(width, height)
      nx0, ny0 = max(x0, cx0) - cx0, max(y0, cy0) - cy0
      nx1, ny1 = min(x1, cx1) - cx0, min(y1, cy1) - cy0
      return [nx0, ny0, nx1, ny1] if nx1 > nx0 and ny1 > ny0 else None
    return list(box)
