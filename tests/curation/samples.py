"""Test inputs for curation: encoded images, a hand-made PNG bomb, raw examples."""

from __future__ import annotations

import io
import json
import pathlib
import struct
import zlib

import numpy as np
from PIL import Image

from webpairs.formats.raw import RawExample


def photo(seed: int, w: int, h: int, mode: str = "RGB") -> Image.Image:
  """Smooth random shapes plus a little noise: hashes behave as on photos, not on noise."""
  rng = np.random.default_rng(seed)
  sw, sh = max(w // 8, 2), max(h // 8, 2)
  y, x = np.mgrid[:sh, :sw].astype(np.float32)
  small = np.zeros((sh, sw, 3), np.float32)
  for _ in range(5):
    fx, fy = rng.uniform(0.05, 0.5, 2)
    small += np.sin(x[..., None] * fx + y[..., None] * fy + rng.uniform(0, 6.3, 3)) * rng.uniform(10, 40)
  img = Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8))
  img = img.resize((w, h), Image.Resampling.BICUBIC)
  noise = rng.integers(-4, 5, (h, w, 3), dtype=np.int16)
  img = Image.fromarray(np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8))
  return img.convert(mode)


def real_photos(shared_data: pathlib.Path) -> list[pathlib.Path]:
  """The 8 real photos (scikit-image samples) of the shared data folder."""
  folder = shared_data / "real_image_captions"
  return sorted(p for p in folder.iterdir() if p.suffix in (".png", ".jpg"))


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
  buf = io.BytesIO()
  img.save(buf, fmt, **kwargs)
  return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
  return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
  """A valid-looking 8-bit grayscale PNG of any claimed size whose IDAT holds one row."""
  ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
  idat = zlib.compress(b"\x00" + b"\x00" * min(width, 16))
  return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def example(
    key: str = "000000001",
    image: bytes | None = None,
    ext: str = "jpg",
    caption: bytes | None = b"a red motorcycle standing in a garage",
    meta: dict | bytes | None = None,
    **kwargs,
) -> RawExample:
  members = {}
  if image is not None:
    members[ext] = image
  if caption is not None:
    members["txt"] = caption
  if meta is not None:
    members["json"] = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
  offset = int(key) if key.isdigit() else 0
  return RawExample(key=key, source="shard-00000.tar", offset=offset, members=members, **kwargs)
