"""One image-format list and one decode: curation, the trainer's input and eval see the same images and pixels."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from webpairs.curation import resize
from webpairs.eval import images as eval_images
from webpairs.formats import curated, images, raw
from webpairs.pretrain.input import preprocess

SIZE = 32


def _encode(img: Image.Image, fmt: str) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt)
  return buf.getvalue()


def _transparent(mode: str) -> Image.Image:
  """SIZE x SIZE: the left half opaque red (grey for LA), the right half fully transparent."""
  if mode == "P":
    img = Image.new("P", (SIZE, SIZE), 1)
    img.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    for x in range(SIZE // 2, SIZE):
      for y in range(SIZE):
        img.putpixel((x, y), 0)
    img.info["transparency"] = 0
    return img
  colour = (200, 30, 30, 255) if mode == "RGBA" else (90, 255)
  clear = (0, 0, 0, 0) if mode == "RGBA" else (0, 0)
  img = Image.new(mode, (SIZE, SIZE), clear)
  img.paste(Image.new(mode, (SIZE // 2, SIZE), colour), (0, 0))
  return img


def test_image_extension_picks_the_first_listed_format():
  assert {"gif", "bmp", "tif", "tiff"} <= set(images.IMAGE_EXTENSIONS)
  assert raw.image_extension({"txt": b"", "png": b"", "jpg": b""}) == "jpg"
  assert raw.image_extension({"txt": b"", "tiff": b""}) == "tiff"
  assert raw.image_extension({"txt": b"", "json": b""}) is None


def test_trainer_index_reads_every_format_curation_keeps(tmp_path):
  # A curated shard written without --resize keeps the raw member's format.
  formats = {"jpg": "JPEG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "tif": "TIFF", "webp": "WEBP"}
  path = tmp_path / "shard-00000.tar"
  with tarfile.open(path, "w") as tar:
    for i, (ext, fmt) in enumerate(formats.items()):
      for name, data in ((f"{i:04d}.{ext}", _encode(Image.new("RGB", (40, 30), (10 * i, 80, 160)), fmt)),
                         (f"{i:04d}.txt", f"caption {i}".encode())):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
  index = curated.index_tar(str(path))
  assert (len(index), index.skipped) == (len(formats), 0)
  with open(path, "rb") as f:
    for offset, size in zip(index.image_offset, index.image_size, strict=True):
      f.seek(int(offset))
      assert preprocess.decode_image(f.read(int(size)), SIZE).shape == (SIZE, SIZE, 3)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparent_png_same_pixels_in_trainer_eval_and_resize(tmp_path, mode):
  data = _encode(_transparent(mode), "PNG")
  (tmp_path / "x.png").write_bytes(data)
  trainer = preprocess.decode_image(data, SIZE)
  evaluated = eval_images.load_image(str(tmp_path / "x.png"), SIZE)
  np.testing.assert_array_equal(trainer, evaluated)
  # Transparent means white, as curation's --resize has always drawn it.
  assert (trainer[:, SIZE // 2:] == 255).all()
  assert (trainer[:, :SIZE // 2] != 255).any(axis=-1).all()
  with Image.open(io.BytesIO(resize.resize_shorter_side(data, SIZE).data)) as img:
    resized = np.asarray(img.convert("RGB"), np.int16)
  assert resized.shape == trainer.shape
  away_from_edge = np.r_[0:SIZE // 2 - 4, SIZE // 2 + 4:SIZE]  # JPEG's chroma subsampling blurs the edge
  assert np.abs(resized - trainer)[:, away_from_edge].max() <= 8  # JPEG loss only: the same pixels


def test_exif_orientation_applied_by_the_one_decode():
  img = Image.new("RGB", (40, 20), (0, 0, 255))
  img.paste(Image.new("RGB", (20, 20), (255, 0, 0)), (0, 0))  # red on the left
  exif = Image.Exif()
  exif[0x0112] = 6  # rotate 90 clockwise to display
  buf = io.BytesIO()
  img.save(buf, format="PNG", exif=exif)
  with Image.open(io.BytesIO(buf.getvalue())) as stored:
    upright = images.upright_rgb(stored)
  assert upright.size == (20, 40)
  assert upright.getpixel((10, 5)) == (255, 0, 0)  # the left half is now on top
