"""64-bit perceptual image hashes (pHash, dHash), bit-identical to `imagehash`, batched in numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft
from PIL import Image

HASH_SIZE = 8  # 8x8 bits = 64-bit hashes, as imagehash's default
PHASH_INPUT = HASH_SIZE * 4  # imagehash's highfreq_factor=4: the DCT runs on 32x32 pixels
# imagehash resizes with LANCZOS (its ANTIALIAS); any other filter changes the bits.
RESAMPLE = Image.Resampling.LANCZOS


def hash_inputs(gray: Image.Image) -> tuple[np.ndarray, np.ndarray]:
  """The two small pixel arrays the hashes need, resized exactly as imagehash does.

  Returns a (32, 32) uint8 array for pHash and an (8, 9) uint8 array for dHash.
  """
  gray = gray.convert("L")  # no-op copy for "L"; imagehash converts whatever it gets
  p = np.asarray(gray.resize((PHASH_INPUT, PHASH_INPUT), RESAMPLE), dtype=np.uint8)
  d = np.asarray(gray.resize((HASH_SIZE + 1, HASH_SIZE), RESAMPLE), dtype=np.uint8)
  return p, d


def _pack(bits: np.ndarray) -> np.ndarray:
  """(B, 8, 8) booleans -> (B,) uint64, first bit in row-major order is the most significant."""
  packed = np.packbits(bits.reshape(len(bits), -1), axis=1)  # (B, 8) bytes, big-endian bits
  return packed.view(">u8").reshape(-1).astype(np.uint64)


def phash_batch(pixels: np.ndarray) -> np.ndarray:
  """pHash of a (B, 32, 32) stack of grayscale pixels -> (B,) uint64.

  Same maths as `imagehash.phash`: DCT-II (unnormalised) over rows then columns, the
  top-left 8x8 block, bit = coefficient > median of the block.
  """
  x = np.asarray(pixels, dtype=np.float64)
  if x.ndim != 3 or x.shape[1:] != (PHASH_INPUT, PHASH_INPUT):
    raise ValueError(f"expected (B, {PHASH_INPUT}, {PHASH_INPUT}) pixels, got {x.shape}")
  dct = scipy.fft.dct(scipy.fft.dct(x, type=2, axis=1), type=2, axis=2)
  low = dct[:, :HASH_SIZE, :HASH_SIZE]
  med = np.median(low.reshape(len(x), -1), axis=1)
  return _pack(low > med[:, None, None])


def _dct_rows(n: int, k: int) -> np.ndarray:
  """(k, n) float64: the first k rows of scipy's unnormalised DCT-II matrix of length n."""
  j = np.arange(n)
  return 2.0 * np.cos(np.pi * np.arange(k)[:, None] * (2 * j[None, :] + 1) / (2 * n))


_DCT_LOW = _dct_rows(PHASH_INPUT, HASH_SIZE)


def phash_low_batch(pixels: np.ndarray) -> np.ndarray:
  """pHash of a (B, 32, 32) stack by matrix products for the 8x8 block only -> (B,) uint64.

  The maths of `phash_batch` without the 24 coefficients per row it throws away: several times
  faster on many small inputs (annotate's window hashes). Float rounding differs, so a
  coefficient within ~1e-9 of its block's median can flip a bit; for imagehash-equal hashes
  use `phash_batch`.
  """
  x = np.asarray(pixels, dtype=np.float64)
  if x.ndim != 3 or x.shape[1:] != (PHASH_INPUT, PHASH_INPUT):
    raise ValueError(f"expected (B, {PHASH_INPUT}, {PHASH_INPUT}) pixels, got {x.shape}")
  low = _DCT_LOW @ x @ _DCT_LOW.T  # (B, 8, 8): DCT over axis 1, then axis 2, top-left block
  med = np.median(low.reshape(len(x), -1), axis=1)
  return _pack(low > med[:, None, None])


def dhash_batch(pixels: np.ndarray) -> np.ndarray:
  """dHash of a (B, 8, 9) stack of grayscale pixels -> (B,) uint64 (as `imagehash.dhash`)."""
  x = np.asarray(pixels)
  if x.ndim != 3 or x.shape[1:] != (HASH_SIZE, HASH_SIZE + 1):
    raise ValueError(f"expected (B, {HASH_SIZE}, {HASH_SIZE + 1}) pixels, got {x.shape}")
  return _pack(x[:, :, 1:] > x[:, :, :-1])


def to_hex(hashes: np.ndarray) -> list[str]:
  """uint64 hashes -> 16-hex-char strings, the layout of `str(imagehash.ImageHash)`."""
  return [f"{int(h):016x}" for h in np.asarray(hashes, dtype=np.uint64).reshape(-1)]


def from_hex(hexes: Sequence[str]) -> np.ndarray:
  """16-hex-char strings -> (N,) uint64."""
  return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def hamming(a: str | np.ndarray, b: str | np.ndarray) -> int | np.ndarray:
  """Number of differing bits: of two hex strings (-> int) or of uint64 arrays (-> array)."""
  if isinstance(a, str) and isinstance(b, str):
    return (int(a, 16) ^ int(b, 16)).bit_count()
  x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
  return np.bitwise_count(x).astype(np.int64)

