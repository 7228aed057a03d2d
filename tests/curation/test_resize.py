"""Shorter-side resize of curated images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from webpairs.curation.resize import resize_shorter_side, target_size


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
  buf = io.BytesIO()
  img.save(buf, format=fmt, **kwargs)
  return buf.getvalue()


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
  rng = np.random.default_rng(0)
  channels = len(mode)
  return Image.fromarray(rng.integers(0, 255, (height, width, channels), dtype=np.uint8).squeeze(), mode)


def test_target_size_keeps_aspect_and_never_upscales():
  assert target_size(400, 200, 100) == (200, 100)
  assert target_size(200, 400, 100) == (100, 200)
  assert target_size(90, 50, 100) == (90, 50)
  assert target_size(1000, 3, 2) == (667, 2)


def test_large_jpeg_is_resized_to_the_shorter_side():
  out = resize_shorter_side(_encode(_noise(640, 480), "JPEG"), 128)
  with Image.open(io.BytesIO(out.data)) as img:
    assert img.format == "JPEG" and img.size == (171, 128) == (out.width, out.height)
  assert out.ext == "jpg"


def test_small_jpeg_keeps_its_bytes():
  data = _encode(_noise(100, 80), "JPEG")
  assert resize_shorter_side(data, 128).data == data


def test_png_with_alpha_becomes_rgb_jpeg_on_white():
  img = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
  out = resize_shorter_side(_encode(img, "PNG"), 100)
  with Image.open(io.BytesIO(out.data)) as back:
    assert back.mode == "RGB" and back.size == (150, 100)
    assert back.getpixel((75, 50))[0] > 245 and back.getpixel((75, 50))[1] > 245  # transparent: white


def test_exif_rotation_is_applied():
  exif = Image.Exif()
  exif[0x0112] = 6  # rotate 90 degrees on display
  out = resize_shorter_side(_encode(_noise(200, 100), "JPEG", exif=exif), 400)
  assert (out.width, out.height) == (100, 200)


def test_same_input_same_bytes():
  data = _encode(_noise(500, 300), "WEBP")
  assert resize_shorter_side(data, 64).data == resize_shorter_side(data, 64).data


def test_garbage_raises():
  with pytest.raises(Exception):
    resize_shorter_side(b"not an image", 64)
