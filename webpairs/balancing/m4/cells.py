"""Cell statistics for the M4 fit: counts of unique (s, y, utility-bucket) cells, merged by summing.

A pool of any size collapses to a few cells (attribute pattern x concept pattern x utility
bucket); the exact fit needs only these. Counts and utility sums are integers (utilities in
fixed point), so partial statistics merge exactly and in any order: a Beam CombineFn sums them.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from webpairs.balancing.m4 import moments

U_SCALE = 1 << 24  # fixed point for utility sums (resolution 6e-8)
U_MAX = float(1 << 20)  # keeps chunk sums of round(u * U_SCALE) inside int64


@dataclasses.dataclass
class CellStats:
  """Mergeable aggregate: cell key -> [count, sum of round(u * U_SCALE)].

  A key is packbits(s) + packbits(y) + the utility bucket floor(u / u_step) as int64. Within a
  bucket the fit uses the cell's mean utility: q is affine in u where 0 < q < 1, so the mean of
  q over the cell's examples equals q at the mean utility except in cells that straddle a clip
  point, where it differs by at most u_step / gamma.
  """

  m: int
  c: int
  u_step: float = 0.01
  cells: dict[bytes, list[int]] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if not self.u_step > 0:
      raise ValueError("u_step must be > 0")

  @classmethod
  def from_arrays(cls, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None, *,
                  u_step: float = 0.01) -> CellStats:
    s, y = moments.as_indicators(s, "s"), moments.as_indicators(y, "y")
    return cls(s.shape[1], y.shape[1], u_step).add(s, y, u)

  @property
  def n(self) -> int:
    return sum(count for count, _ in self.cells.values())

  @property
  def n_cells(self) -> int:
    return len(self.cells)

  def add(self, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None) -> CellStats:
    """Counts rows of s (n, m), y (n, c) and utilities u (n,) (None: 1) into this aggregate."""
    s, y = moments.as_indicators(s, "s"), moments.as_indicators(y, "y")
    if s.shape != (len(s), self.m) or y.shape != (len(s), self.c):
      raise ValueError(f"expected s (n, {self.m}) and y (n, {self.c}), got {s.shape} and {y.shape}")
    u = np.ones(len(s)) if u is None else np.asarray(u, np.float64)
    if u.shape != (len(s),) or not (np.abs(u) <= U_MAX).all():
      raise ValueError(f"u must be (n,) with finite values of magnitude <= {U_MAX:g}")
    for sl in moments.chunks(len(s)):
      self._add_chunk(s[sl], y[sl], u[sl])
    return self

  def _add_chunk(self, s, y, u):
    bucket = np.floor(u / self.u_step).astype("<i8")
    rows = np.concatenate([np.packbits(s.astype(bool), axis=1), np.packbits(y.astype(bool), axis=1),
                           bucket[:, None].view(np.uint8)], axis=1)
    rows = np.ascontiguousarray(rows)
    keys, inverse = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(keys))
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    u_fixed = np.add.reduceat(np.rint(u[order] * U_SCALE).astype(np.int64), starts)
    for key, count, usum in zip(keys, counts.tolist(), u_fixed.tolist()):
      cell = self.cells.setdefault(key.tobytes(), [0, 0])
      cell[0] += count
      cell[1] += usum

  def merge(self, *others: CellStats) -> CellStats:
    """A new aggregate holding the sum of this one and `others` (same m, c, u_step)."""
    out = CellStats(self.m, self.c, self.u_step, {k: list(v) for k, v in self.cells.items()})
    for other in others:
      if (other.m, other.c, other.u_step) != (self.m, self.c, self.u_step):
        raise ValueError("cannot merge cell statistics of different shapes or utility buckets")
      for key, (count, usum) in other.cells.items():
        cell = out.cells.setdefault(key, [0, 0])
        cell[0] += count
        cell[1] += usum
    return out

  def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s (K, m) uint8, y (K, c) uint8, mean utility (K,), count (K,) int64), sorted by key."""
    keys = sorted(self.cells)
    nb_s, nb_y = -(-self.m // 8), -(-self.c // 8)
    if not keys:
      return (np.zeros((0, self.m), np.uint8), np.zeros((0, self.c), np.uint8), np.zeros(0), np.zeros(0, np.int64))
    raw = np.frombuffer(b"".join(keys), np.uint8).reshape(len(keys), -1)
    s = np.unpackbits(raw[:, :nb_s], axis=1, count=self.m)
    y = np.unpackbits(raw[:, nb_s:nb_s + nb_y], axis=1, count=self.c)
    count = np.array([self.cells[k][0] for k in keys], np.int64)
    usum = np.array([self.cells[k][1] for k in keys], dtype=object)
    u = np.array([total / (U_SCALE * n) for total, n in zip(usum, count.tolist())])
    return s, y, u, count

  def to_json(self) -> str:
    cells = [[k.hex(), *self.cells[k]] for k in sorted(self.cells)]
    return json.dumps({"m": self.m, "c": self.c, "u_step": self.u_step, "cells": cells})

  @classmethod
  def from_json(cls, text: str) -> CellStats:
    d = json.loads(text)
    return cls(d["m"], d["c"], d["u_step"], {bytes.fromhex(k): [n, us] for k, n, us in d["cells"]})
