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


@pytest.mark.parametrize("w,h,boxes", [
    # The grid row by row (y centred, top, bottom), in each x centred, left, right; then the 75% corners
    # top-left and bottom-right.
    (100, 50, [(5, 2, 95, 47), (0, 2, 90, 47), (10, 2, 100, 47), (5, 0, 95, 45), (0, 0, 90, 45), (10, 0, 100, 45),
               (5, 5, 95, 50), (0, 5, 90, 50), (10, 5, 100, 50),
               (0, 0, 75, 38), (25, 12, 100, 50)]),
    (10, 10, [(0, 0, 9, 9), (0, 0, 9, 9), (1, 0, 10, 9), (0, 0, 9, 9), (0, 0, 9, 9), (1, 0, 10, 9),
              (0, 1, 9, 10), (0, 1, 9, 10), (1, 1, 10, 10),
              (0, 0, 8, 8), (2, 2, 10, 10)]),
    (1, 1, [(0, 0, 1, 1)] * 11),
])
def test_window_boxes(w, h, boxes):
  assert image.window_boxes(w, h) == boxes


def test_window_weights_are_normalised_and_inside_their_window():
  weights = image._window_weights(100, 32)  # pylint: disable=protected-access
  assert weights.shape == (3, 32, 100)
  np.testing.assert_allclose(weights.sum(axis=2), 1.0, rtol=1e-6)
  # centred window: columns 5..94; start-anchored 0..89; end-anchored 10..99.
  for i, (lo, hi) in enumerate(((5, 95), (0, 90), (10, 100))):
    assert not weights[i, :, :lo].any() and not weights[i, :, hi:].any()
    assert weights[i, 0, lo] != 0 and weights[i, -1, hi - 1] != 0


def test_window_inputs_resample_like_pil_crop_and_resize():
  """A flat and a smooth picture: windows equal PIL's crop-then-LANCZOS of the box-averaged grid within rounding."""
  flat = Image.new("L", (80, 60), 137)
  p, d = image.window_inputs(flat)
  assert p.shape == (image.N_WINDOWS, 32, 32) and d.shape == (image.N_WINDOWS, 8, 9) and p.dtype == np.uint8
  assert (p == 137).all() and (d == 137).all()
  ramp = Image.fromarray(np.tile(np.arange(0, 240, 3, dtype=np.uint8), (60, 1)), "L")  # 80 wide, 60 high
  p, d = image.window_inputs(ramp)
  for k, box in enumerate(image.window_boxes(image.WINDOW_GRID, image.WINDOW_GRID)):
    grid = ramp.resize((image.WINDOW_GRID, image.WINDOW_GRID), Image.Resampling.BOX)
    ref_p, ref_d = hashes.hash_inputs(grid.crop(box))
    assert np.abs(p[k].astype(int) - ref_p).max() <= 2, k
    assert np.abs(d[k].astype(int) - ref_d).max() <= 2, k
  # The left windows see darker columns than the right ones, the row ranges see the same.
  assert p[1].mean() < p[0].mean() < p[2].mean()
  np.testing.assert_array_equal(p[0], p[3])
  # Corner windows: the top-left (9) darker than the left 90% one, the bottom-right (10) lighter than the right one.
  assert p[9].mean() < p[1].mean() and p[10].mean() > p[2].mean()


def test_inspect_with_windows_only_when_asked():
  buf = io.BytesIO()
  Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(buf, "PNG")
  plain = image.inspect_image(buf.getvalue())
  assert plain.window_phash_pixels is None and plain.window_dhash_pixels is None
  win = image.inspect_image(buf.getvalue(), windows=True)
  assert win.window_phash_pixels.shape == (11, 32, 32) and win.window_dhash_pixels.shape == (11, 8, 9)
  np.testing.assert_array_equal(win.phash_pixels, plain.phash_pixels)  # the row's hashes do not change
  bad = image.inspect_image(b"not an image", windows=True)
  assert bad.status == reasons.CORRUPT_IMAGE and bad.window_phash_pixels is None


def test_content_aspect_is_of_the_content_inside_letterbox_bars():
  photo = Image.fromarray(np.random.default_rng(2).integers(0, 256, (100, 300, 3), dtype=np.uint8))
  boxed = Image.new("RGB", (300, 300), (0, 0, 0))
  boxed.paste(photo, (0, 100))
  for img, want in ((photo, 3.0), (boxed, 3.0), (photo.crop((30, 0, 300, 100)), 2.7)):
    buf = io.BytesIO()
    img.save(buf, "PNG")
    info = image.inspect_image(buf.getvalue())
    assert info.content_aspect == pytest.approx(want, rel=0.02), (img.size, info.content_aspect)
  assert image.inspect_image(b"not an image").content_aspect is None
