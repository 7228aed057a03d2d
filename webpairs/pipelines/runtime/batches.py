"""Numpy batches as Beam elements: split rows by partition, concatenate a group's batches.

Python Beam pays per element, so the select job moves rows between stages as a few
arrays per (file, partition) instead of one element per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def split(parts: np.ndarray, *arrays: np.ndarray) -> Iterator[tuple[int, tuple[np.ndarray, ...]]]:
  """(partition, the arrays' rows in it) for every partition present, in partition order."""
  parts = np.asarray(parts)
  order = np.argsort(parts, kind="stable")
  parts = parts[order]
  bounds = np.flatnonzero(np.diff(parts)) + 1
  for lo, hi in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [len(parts)]])):
    if hi > lo:
      rows = order[lo:hi]
      yield int(parts[lo]), tuple(a[rows] for a in arrays)


def concat(batches: Iterable[tuple[np.ndarray, ...]], width: int) -> tuple[np.ndarray, ...]:
  """Column-wise concatenation of `width`-array batches (empty int64 arrays for no batch)."""
  batches = list(batches)
  if not batches:
    return tuple(np.zeros(0, np.int64) for _ in range(width))
  return tuple(np.concatenate([b[i] for b in batches]) for i in range(width))
