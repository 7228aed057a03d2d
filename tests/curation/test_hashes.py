"""pHash/dHash equal imagehash bit for bit; hex layout, hamming distance, robustness to re-encoding."""

from __future__ import annotations

import itertools

import imagehash
import numpy as np
from PIL import Image
import pytest

from tests.curation import samples
from webpairs.curation import hashes
from webpairs.curation import image


def _varied_images() -> list[Image.Image]:
  rng = np.random.default_rng(0)
  out = [
      Image.new("L", (40, 30), 7),  # flat: the DCT is all rounding noise
      Image.new("RGB", (33, 65), (200, 10, 90)),
      Image.new("L", (1, 1), 255),
      Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (20, 1))),
      Image.fromarray(rng.integers(0, 256, (97, 13, 3), dtype=np.uint8)),
      Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA"),
      Image.fromarray(rng.random((50, 70)) > 0.5),  # mode "1"
      Image.fromarray(rng.integers(0, 65535, (40, 40), dtype=np.uint16)),  # 16-bit
      samples.photo(1, 300, 200).convert("P"),
      samples.photo(2, 1024, 768),
      samples.photo(3, 31, 500, "L"),
  ]
  for seed in range(20):
    w, h = (int(v) for v in rng.integers(8, 400, 2))
    out.append(samples.photo(seed + 10, w, h))
  return out


def _ours(images: list[Image.Image]) -> tuple[list[str], list[str]]:
  inputs = [hashes.hash_inputs(im) for im in images]
  ph = hashes.phash_batch(np.stack([p for p, _ in inputs]))
  dh = hashes.dhash_batch(np.stack([d for _, d in inputs]))
  return hashes.to_hex(ph), hashes.to_hex(dh)


def test_batched_hashes_equal_imagehash_on_varied_images():
  images = _varied_images()
  ph, dh = _ours(images)
  assert ph == [str(imagehash.phash(im)) for im in images]
  assert dh == [str(imagehash.dhash(im)) for im in images]


def test_hashes_equal_imagehash_on_real_photos(shared_data):
  paths = samples.real_photos(shared_data)
  assert len(paths) == 8
  images = [Image.open(p) for p in paths]
  ph, dh = _ours(images)
  assert ph == [str(imagehash.phash(im)) for im in images]
  assert dh == [str(imagehash.dhash(im)) for im in images]


def test_dhash_of_gradients_and_bit_order():
  rising = np.tile(np.arange(9, dtype=np.uint8), (8, 1))[None]
  assert hashes.to_hex(hashes.dhash_batch(rising)) == ["ffffffffffffffff"]
  assert hashes.to_hex(hashes.dhash_batch(rising[:, :, ::-1])) == ["0000000000000000"]
  first = np.zeros((1, 8, 9), np.uint8)
  first[0, 0, 1] = 1  # only the first bit (row 0, first column pair) is set: the top bit
  assert hashes.to_hex(hashes.dhash_batch(first)) == ["8000000000000000"]
  last = np.zeros((1, 8, 9), np.uint8)
  last[0, 7, 8] = 1
  assert hashes.dhash_batch(last).tolist() == [1]


def test_batch_shapes_are_checked():
  with pytest.raises(ValueError):
    hashes.phash_batch(np.zeros((2, 8, 8)))
  with pytest.raises(ValueError):
    hashes.dhash_batch(np.zeros((8, 9)))


def test_hex_round_trip_and_hamming():
  values = np.array([0, 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64)
  hexes = hashes.to_hex(values)
  assert hexes == [
      "0000000000000000", "0000000000000001", "8000000000000000", "ffffffffffffffff",
      "0123456789abcdef",
  ]
  np.testing.assert_array_equal(hashes.from_hex(hexes), values)
  assert hashes.hamming("0000000000000000", "ffffffffffffffff") == 64
  assert hashes.hamming("8000000000000000", "0000000000000000") == 1
  assert hashes.hamming("0123456789abcdef", "0123456789abcdef") == 0
  got = hashes.hamming(values, values[::-1])
  assert got.tolist() == [hashes.hamming(a, b) for a, b in zip(hexes, hexes[::-1])]
  assert got.tolist() == [bin(int(a) ^ int(b)).count("1") for a, b in zip(values, values[::-1])]


def _phash_of(data: bytes) -> str:
  info = image.inspect_image(data)
  return hashes.to_hex(hashes.phash_batch(info.phash_pixels[None]))[0]


def test_phash_is_near_for_copies_and_far_for_different_photos(shared_data):
  paths = samples.real_photos(shared_data)
  originals = {}
  for p in paths:
    im = Image.open(p).convert("RGB")
    base = _phash_of(samples.encode(im, "PNG", compress_level=1))
    copies = [
        samples.encode(im, "JPEG", quality=60),
        samples.encode(im.resize((im.width // 2, im.height // 2)), "JPEG", quality=85),
        samples.encode(im.resize((im.width * 2, im.height * 2)), "PNG", compress_level=1),
        samples.encode(im, "WEBP", quality=50, method=0),
        samples.encode(im.convert("L"), "PNG", compress_level=1),
    ]
    for c in copies:
      assert hashes.hamming(base, _phash_of(c)) <= 8, p.name
    originals[p.name] = base
  far = [hashes.hamming(a, b) for a, b in itertools.combinations(originals.values(), 2)]
  assert min(far) >= 16, far  # measured: 24..40 on these 8 photos


def test_phash_low_batch_equals_phash_batch():
  rng = np.random.default_rng(5)
  pixels = rng.integers(0, 256, (500, 32, 32), dtype=np.uint8)
  # Blurred noise (photo-like low frequencies); exact ties with the median (a symmetric ramp) may differ.
  blurred = np.cumsum(np.cumsum(rng.normal(0, 1, (200, 32, 32)), axis=1), axis=2)
  blurred = (blurred - blurred.min()) / np.ptp(blurred) * 255
  for x in (pixels, blurred.astype(np.uint8)):
    np.testing.assert_array_equal(hashes.phash_low_batch(x), hashes.phash_batch(x))
  with pytest.raises(ValueError):
    hashes.phash_low_batch(np.zeros((2, 8, 8)))
