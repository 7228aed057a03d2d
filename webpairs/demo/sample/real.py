"""Real photos with human captions, mixed into samples when the shared data folder is present."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[3]
REAL_IMAGES_SUBDIR = "real_image_captions"
JPEG_QUALITY = 90


def shared_data_dir() -> pathlib.Path:
  """`../shared/data` beside the project root (override with WEBPAIRS_SHARED_DATA)."""
  return pathlib.Path(os.environ.get("WEBPAIRS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def default_real_images_dir() -> pathlib.Path | None:
  path = shared_data_dir() / REAL_IMAGES_SUBDIR
  return path if (path / "captions.json").is_file() else None


@dataclasses.dataclass(frozen=True)
class RealPhoto:
  name: str  # file name in the folder
  caption: str
  width: int
  height: int
  path: str


def load_real_photos(folder: str | os.PathLike) -> list[RealPhoto]:
  """Photos listed in `folder/captions.json` ({file name: caption}; keys starting "_" are notes)."""
  folder = pathlib.Path(folder)
  captions = json.loads((folder / "captions.json").read_text(encoding="utf-8"))
  photos = []
  for name in sorted(captions):
    if name.startswith("_"):
      continue
    with Image.open(folder / name) as img:
      width, height = img.size
    photos.append(RealPhoto(name, captions[name], width, height, str(folder / name)))
  return photos


def jpeg_bytes(photo: RealPhoto) -> bytes:
  """The photo as JPEG at its own size: JPEG files as they are, others re-encoded."""
  data = pathlib.Path(photo.path).read_bytes()
  with Image.open(io.BytesIO(data)) as img:
    if img.format == "JPEG":
      return data
    if img.mode in ("RGBA", "LA", "P"):
      img = img.convert("RGBA")
      flat = Image.new("RGB", img.size, (255, 255, 255))
      flat.paste(img, mask=img.getchannel("A"))
      img = flat
    elif img.mode not in ("RGB", "L"):
      img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0")
    return buf.getvalue()
