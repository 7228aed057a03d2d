"""SemDeDup's maths without Beam: spherical k-means steps in exact fixed point, and duplicates within a cluster.

Sums of embeddings are taken in int64 fixed point, so they are exact and do not depend
on the order Beam adds partial sums in: the centroids, and so the clusters, are the
same on every run and runner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

FIXED_POINT = float(1 << 24)  # |x| <= 1 per coordinate: 2^24 * 2^38 rows still fits an int64
_BLOCK = 1024  # rows of the within-cluster similarity computed at a time


def row_hash(file_id: str, key: str) -> int:
  """A deterministic 64-bit hash of a row: the initial centroids are the rows with the smallest."""
  return int.from_bytes(hashlib.blake2b(f"{file_id}\0{key}".encode("utf-8"), digest_size=8).digest(), "big")


def normalise(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float32)
  norm = np.linalg.norm(x, axis=-1, keepdims=True)
  return x / np.where(norm > 0, norm, 1)


def assign(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
  """Index of the most similar (cosine) centroid per row; ties go to the lower index."""
  if len(emb) == 0:
    return np.zeros(0, np.int64)
  return np.argmax(normalise(emb) @ centroids.T, axis=1).astype(np.int64)


def partial_sums(emb: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(int64 [k, d] fixed-point sums of the rows' unit embeddings per nearest centroid, int64 [k] counts)."""
  k, d = centroids.shape
  sums = np.zeros((k, d), np.int64)
  counts = np.zeros(k, np.int64)
  if len(emb):
    labels = assign(emb, centroids)
    np.add.at(sums, labels, np.round(normalise(emb).astype(np.float64) * FIXED_POINT).astype(np.int64))
    counts = np.bincount(labels, minlength=k).astype(np.int64)
  return sums, counts


def update(sums: np.ndarray, counts: np.ndarray, previous: np.ndarray) -> np.ndarray:
  """New unit centroids: the normalised mean of each cluster; an empty cluster keeps its centroid."""
  mean = sums.astype(np.float64) / FIXED_POINT
  new = normalise(mean).astype(np.float32)
  return np.where((counts > 0)[:, None], new, previous).astype(np.float32)


def rank_order(scores: Sequence[float | None], ids: Sequence[tuple[str, str]]) -> list[int]:
  """Keep order: highest score first (a missing score last), ties by (file, key)."""
  return sorted(range(len(ids)), key=lambda i: (-(scores[i] if scores[i] is not None else -np.inf), ids[i]))


def cluster_duplicates(emb: np.ndarray, scores: Sequence[float | None], ids: Sequence[tuple[str, str]],
                       threshold: float) -> list[int | None]:
  """Per row, the index of the row it duplicates, or None for rows kept.

  A row is a duplicate when its cosine with a row ranked before it (rank_order: the
  higher score) is above `threshold` (SemDeDup's rule); it is marked a duplicate of the
  highest-ranked such row.
  """
  n = len(ids)
  out: list[int | None] = [None] * n
  if n < 2:
    return out
  order = rank_order(scores, ids)
  unit = normalise(emb)[order]
  for start in range(1, n, _BLOCK):
    stop = min(n, start + _BLOCK)
    sims = unit[start:stop] @ unit[:stop].T  # each row against every row ranked before it
    earlier = np.arange(stop)[None, :] < np.arange(start, stop)[:, None]
    above = (sims > threshold) & earlier
    for r in np.nonzero(above.any(axis=1))[0]:
      out[order[start + r]] = order[int(np.argmax(above[r]))]
  return out
