"""Synthetic attribute/concept data for the M4 tests: biased, unbiased and overlapping groups."""

from __future__ import annotations

import numpy as np


def biased(n: int, c: int = 5, *, seed: int = 0, p_attr: float = 0.7,
           split: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
  """A share p_attr of rows has one of two attributes, split/(1-split); concepts lean to one side."""
  rng = np.random.default_rng(seed)
  has = rng.random(n) < p_attr
  first = has & (rng.random(n) < split)
  second = has & ~first
  base = np.linspace(0.05, 0.2, c)
  lift = 0.1 * np.where(np.arange(c) % 2 == 0, 1.0, -0.8)
  p = base + lift * first[:, None] - lift * second[:, None]
  y = (rng.random((n, c)) < np.clip(p, 0.0, 1.0)).astype(np.uint8)
  return np.stack([first, second], axis=1).astype(np.uint8), y


def overlapping(n: int, c: int = 3, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Two attributes that co-occur (both 1), rows with neither, concepts depending on both."""
  rng = np.random.default_rng(seed)
  s = (rng.random((n, 2)) < [0.45, 0.25]).astype(np.uint8)  # 11% both, 41% neither
  p = 0.1 + 0.15 * s[:, :1] - 0.05 * s[:, 1:] + 0.05 * np.arange(c)
  y = (rng.random((n, c)) < p).astype(np.uint8)
  return s, y


def balanced(reps: int, pi: tuple[float, float] = (0.25, 0.25), c: int = 2) -> tuple[np.ndarray, np.ndarray]:
  """Exactly unbiased data: every (s, y) pattern in proportion, E[s] = pi, y independent of s."""
  patterns = [((1, 0), pi[0]), ((0, 1), pi[1]), ((0, 0), 1 - sum(pi))]
  ys = np.array(np.meshgrid(*[[0, 1]] * c)).reshape(c, -1).T
  s_rows, y_rows = [], []
  for sv, share in patterns:
    k = int(round(share * 4 * reps))
    for yv in ys:
      s_rows += [sv] * k
      y_rows += [yv] * k
  return np.array(s_rows, np.uint8), np.array(y_rows, np.uint8)
