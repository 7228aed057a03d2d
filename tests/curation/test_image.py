"""Image inspection: header fields, bytes hash, bomb guard, corrupt vs truncated, reduced decoding."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import warnings

import imagehash
import numpy as np
from PIL import Image
from PIL import ImageFile
import pytest

from tests.curation import samples
from webpairs.curation import hashes
from webpairs.curation import image
from webpairs.curation import reasons


def _hex(info: image.ImageInfo) -> tuple[str, str]:
  ph = hashes.to_hex(hashes.phash_batch(info.phash_pixels[None]))[0]
  dh = hashes.to_hex(hashes.dhash_batch(info.dhash_pixels[None]))[0]
  return ph, dh


@pytest.mark.parametrize("fmt,name", [
    ("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"), ("TIFF", "tiff"),
])
def test_header_fields_and_sha256(fmt, name):
  data = samples.encode(samples.photo(0, 120, 80), fmt)
  info = image.inspect_image(data)
  assert info.status == reasons.OK, info.detail
  assert (info.width, info.height, info.format) == (120, 80, name)
  assert info.sha256 == hashlib.sha256(data).hexdigest()
  assert info.n_bytes == len(data)
  assert info.phash_pixels.shape == (32, 32) and info.dhash_pixels.shape == (8, 9)


def test_cmyk_jpeg_decodes():
  info = image.inspect_image(samples.encode(samples.photo(0, 300, 200, "CMYK"), "JPEG"))
  assert info.status == reasons.OK, info.detail


def test_hashes_equal_imagehash_on_the_same_decoded_pixels():
  for data in (
      samples.encode(samples.photo(4, 900, 700), "JPEG", quality=90),
      samples.encode(samples.photo(5, 700, 900), "PNG"),
      samples.encode(samples.photo(6, 100, 60), "JPEG"),  # small: no reduction at all
  ):
    info = image.inspect_image(data)
    gray = image.decode_gray(Image.open(io.BytesIO(data)), image.DEFAULT_DRAFT_SIZE)
    assert min(gray.size) >= min(image.DEFAULT_DRAFT_SIZE, 60)
    assert _hex(info) == (str(imagehash.phash(gray)), str(imagehash.dhash(gray)))


@pytest.mark.parametrize("fmt,size,draft_size,decoded", [
    ("PNG", (1000, 800), 64, (84, 67)),  # box-reduced by min(1000 // 64, 800 // 64) = 12
    ("JPEG", (1024, 768), 64, (128, 96)),  # DCT draft at 1/8; 96 // 64 = 1: nothing more
    ("JPEG", (2048, 2048), 64, (64, 64)),  # draft 1/8 to 256, then box-reduced by 4
    ("PNG", (100, 60), 64, (100, 60)),  # small images stay as they are
    ("JPEG", (1024, 768), 0, (1024, 768)),  # 0: full size
])
def test_decode_gray_sizes(fmt, size, draft_size, decoded):
  data = samples.encode(samples.photo(0, *size), fmt)
  gray = image.decode_gray(Image.open(io.BytesIO(data)), draft_size)
  assert (gray.mode, gray.size) == ("L", decoded)


def test_full_size_decode_equals_imagehash_on_the_plain_image():
  for data in (
      samples.encode(samples.photo(7, 640, 480), "JPEG"),
      samples.encode(samples.photo(8, 480, 640), "PNG"),
  ):
    info = image.inspect_image(data, draft_size=0)
    plain = Image.open(io.BytesIO(data))
    assert _hex(info) == (str(imagehash.phash(plain)), str(imagehash.dhash(plain)))


def test_draft_decoding_is_small_and_moves_hashes_by_a_few_bits(shared_data):
  drift = []
  paths = samples.real_photos(shared_data)
  for p in paths:
    src = Image.open(p).convert("RGB")
    big = src.resize((src.width * 4, src.height * 4), Image.Resampling.BICUBIC)  # ~2000 px
    data = samples.encode(big, "JPEG", quality=90)
    gray = image.decode_gray(Image.open(io.BytesIO(data)), image.DEFAULT_DRAFT_SIZE)
    assert max(gray.size) < big.width // 8 + 8  # really decoded at reduced scale
    ph, dh = _hex(image.inspect_image(data, crop_borders=False))  # draft drift only: horse.png has white bars
    full = Image.open(io.BytesIO(data))
    drift.append((
        hashes.hamming(ph, str(imagehash.phash(full))),
        hashes.hamming(dh, str(imagehash.dhash(full))),
    ))
  assert max(d for d, _ in drift) <= 6, drift  # measured: at most 4 bits
  assert np.mean([d for d, _ in drift]) <= 2, drift


def test_bomb_png_is_rejected_from_the_header_without_decoding():
  data = samples.png_header_only(50_000, 50_000)
  tracemalloc.start()
  try:
    info = image.inspect_image(data)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert info.status == reasons.DECOMPRESSION_BOMB
  assert "2500000000 pixels" in info.detail  # PIL's hard limit fired first
  assert peak < 10 * 2**20  # a decode would need 2.5 GB
  assert info.sha256 == hashlib.sha256(data).hexdigest()


def test_bomb_caught_by_our_limit_when_pil_has_none(monkeypatch):
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
  info = image.inspect_image(samples.png_header_only(50_000, 50_000))
  assert info.status == reasons.DECOMPRESSION_BOMB
  assert (info.width, info.height) == (50_000, 50_000)
  assert info.detail == "50000x50000 = 2500000000 pixels > limit 100000000"


def test_max_pixels_is_configurable():
  data = samples.encode(samples.photo(0, 100, 100), "PNG")
  assert image.inspect_image(data, max_pixels=9_999).status == reasons.DECOMPRESSION_BOMB
  assert image.inspect_image(data, max_pixels=10_000).status == reasons.OK


def test_pil_bomb_warning_never_escapes(monkeypatch):
  # 40x40 = 1600 pixels: above PIL's (patched) warning level of 1000, below its error level.
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
  data = samples.encode(samples.photo(0, 40, 40), "PNG")
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    # Our limit is looser than PIL's: our check decides, and the image is fine.
    assert image.inspect_image(data, max_pixels=10_000).status == reasons.OK
    # PIL's limit is the stricter one: its warning is the reject.
    info = image.inspect_image(data, max_pixels=1000)
  assert info.status == reasons.DECOMPRESSION_BOMB
  assert info.detail.startswith("PIL: Image size (1600 pixels)")


def test_random_and_empty_bytes_are_corrupt():
  data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
  info = image.inspect_image(data)
  assert info.status == reasons.CORRUPT_IMAGE
  assert info.detail.startswith("not a recognised image (5000 bytes")
  assert info.sha256 == hashlib.sha256(data).hexdigest()
  assert info.width is None and info.phash_pixels is None
  assert image.inspect_image(b"").status == reasons.CORRUPT_IMAGE


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_image_cut_in_half_is_truncated(fmt):
  data = samples.encode(samples.photo(0, 400, 300), fmt)
  info = image.inspect_image(data[: len(data) // 2])
  assert info.status == reasons.TRUNCATED_IMAGE, info.detail
  assert (info.width, info.height, info.format) == (400, 300, fmt.lower())
  assert "truncated" in info.detail or "broken" in info.detail
  assert info.phash_pixels is None
  assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_unknown_format_names_are_refused():
  image.check_formats(image.DEFAULT_FORMATS)
  with pytest.raises(ValueError, match="NOPE"):
    image.check_formats(("JPEG", "NOPE"))
