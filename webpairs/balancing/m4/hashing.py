"""The deterministic keep rule's uniforms: a stable 64-bit hash of (key, seed) mapped to [0, 1).

h = int.from_bytes(blake2b(f"{seed}:{key}".encode("utf-8"), digest_size=8).digest(), "big")
(a bytes key is used as is after the f"{seed}:" prefix), and the uniform is (h >> 11) / 2**53,
i.e. h / 2**64 truncated to float64's 53 bits. An example is kept iff uniform < q. Never
Python's hash(): it is salted per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def _message(prefix: bytes, key) -> bytes:
  return prefix + (bytes(key) if isinstance(key, (bytes, bytearray)) else str(key).encode("utf-8"))


def key_uniform(keys: Iterable, seed: int, *, chunk: int = 1 << 16) -> np.ndarray:
  """(n,) float64 uniforms in [0, 1), one per key, deterministic in (key, seed)."""
  prefix = f"{seed}:".encode()
  parts, batch = [], []

  def flush():
    h = np.frombuffer(b"".join(batch), dtype=">u8").astype(np.uint64)
    parts.append((h >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    batch.clear()

  for k in keys:
    batch.append(hashlib.blake2b(_message(prefix, k), digest_size=8).digest())
    if len(batch) == chunk:
      flush()
  if batch or not parts:
    flush()
  return np.concatenate(parts)
