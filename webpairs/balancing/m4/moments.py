"""M4 moments: the bias vector a(x) and the weighted bias statistics it bounds.

Notation (DESIGN §4): s in {0,1}^m are sensitive attributes, y in {0,1}^c concepts, z = s - pi.
The reduced features g(x) = [z, vec(z y^T)] (length D = m(1+c), row-major: z_i y_j at
m + i*c + j) carry everything; the bias vector is two signed copies of g, shifted by the
tolerances: a(x) = [z - eps_R, -z - eps_R, vec(z y^T) - eps_D, -vec(z y^T) - eps_D].
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 1 << 14  # rows per chunk: bounds memory of the (rows, c) float views


def as_indicators(x: np.ndarray, name: str) -> np.ndarray:
  """Checks a 2-d array of 0/1 values and returns it unchanged (any numeric dtype)."""
  x = np.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be 2-d (n, k), got shape {x.shape}")
  if x.dtype == bool or not x.size:
    return x
  if np.issubdtype(x.dtype, np.integer):
    ok = x.min() >= 0 and x.max() <= 1  # no (n, k) temporaries for the common case
  else:
    ok = all(np.logical_or(x[sl] == 0, x[sl] == 1).all() for sl in chunks(len(x)))
  if not ok:
    raise ValueError(f"{name} must hold only 0/1 values")
  return x


def chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
  for start in range(0, n, size):
    yield slice(start, min(n, start + size))


def broadcast_params(m: int, c: int, pi, eps_rep, eps_assoc) -> tuple[np.ndarray, np.ndarray]:
  """Returns pi (m,) and the tolerance of each reduced feature eps (D,) = [eps_R (m), eps_D (m*c)]."""
  pi = np.broadcast_to(np.asarray(pi, np.float64), (m,)).copy()
  e_r = np.broadcast_to(np.asarray(eps_rep, np.float64), (m,))
  e_d = np.broadcast_to(np.asarray(eps_assoc, np.float64), (m, c)).reshape(-1)
  eps = np.concatenate([e_r, e_d])
  if (eps < 0).any() or not np.isfinite(eps).all():
    raise ValueError("eps_rep and eps_assoc must be finite and >= 0")
  return pi, eps


def features(s: np.ndarray, y: np.ndarray, pi: np.ndarray) -> np.ndarray:
  """Reduced features g = [z, vec(z y^T)], shape (n, m(1+c)), float64."""
  z = np.asarray(s, np.float64) - pi
  zy = z[:, :, None] * np.asarray(y, np.float64)[:, None, :]
  return np.concatenate([z, zy.reshape(len(z), -1)], axis=1)


def bias_vector(s: np.ndarray, y: np.ndarray, *, pi, eps_rep, eps_assoc) -> np.ndarray:
  """a(x) for every row: (n, 2m(c+1)) in the layout [+rep, -rep, +assoc, -assoc] (module doc)."""
  s, y = as_indicators(s, "s"), as_indicators(y, "y")
  m, c = s.shape[1], y.shape[1]
  pi, eps = broadcast_params(m, c, pi, eps_rep, eps_assoc)
  g = features(s, y, pi)
  return np.concatenate([g[:, :m] - eps[:m], -g[:, :m] - eps[:m], g[:, m:] - eps[m:], -g[:, m:] - eps[m:]], axis=1)


def weighted_moments(s: np.ndarray, y: np.ndarray,
                     weights: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
  """Weighted sums, chunked: sum w, sum w s (m,), sum w y (c,), sum w s y^T (m, c)."""
  m, c = s.shape[1], y.shape[1]
  W, Ws, Wy, Wsy = 0.0, np.zeros(m), np.zeros(c), np.zeros((m, c))
  for sl in chunks(len(s)):
    w = np.asarray(weights[sl], np.float64)
    sf, yf = np.asarray(s[sl], np.float64), np.asarray(y[sl], np.float64)
    W += w.sum()
    Ws += w @ sf
    Wy += w @ yf
    Wsy += (sf * w[:, None]).T @ yf
  return W, Ws, Wy, Wsy


def bias_report(s: np.ndarray, y: np.ndarray, weights: np.ndarray | None, pi, *,
                eps_rep=None, eps_assoc=None, tol: float = 1e-9) -> dict:
  """Bias of the sample that keeps row i with weight w_i (ones = the data as is).

  E_w[f] = sum_i w_i f_i / sum_i w_i is the mean over the weighted (kept) sample. Keys:
    representation (m,): E_w[s] - pi.
    association (m, c): E_w[(s - pi) y] = E_w[s y] - pi E_w[y].
    demographic_parity_gap (m, c): P_w(y_j | s_i = 1) - P_w(y_j | s_i = 0) (nan if a side is empty).
    keep_rate: mean of w (E[q] for expected weights; the kept share for a 0/1 mask).
    n, kept_weight: number of rows and sum of w.
  With eps_rep and eps_assoc also: worst_violation (largest |bias| - eps, 0 if all hold) and
  constraints_met (worst_violation <= tol, for float rounding).
  """
  s, y = as_indicators(s, "s"), as_indicators(y, "y")
  m, c = s.shape[1], y.shape[1]
  weights = np.ones(len(s)) if weights is None else np.asarray(weights, np.float64)
  if weights.shape != (len(s),) or (weights < 0).any():
    raise ValueError("weights must be (n,) and >= 0")
  pi, _ = broadcast_params(m, c, pi, 0.0, 0.0)
  W, Ws, Wy, Wsy = weighted_moments(s, y, weights)
  with np.errstate(invalid="ignore", divide="ignore"):
    rep = Ws / W - pi
    assoc = (Wsy - pi[:, None] * Wy[None, :]) / W
    p_y_s1 = Wsy / Ws[:, None]
    p_y_s0 = (Wy[None, :] - Wsy) / (W - Ws)[:, None]
  report = {
      "n": len(s),
      "kept_weight": float(W),
      "keep_rate": float(W / len(s)) if len(s) else float("nan"),
      "representation": rep,
      "association": assoc,
      "demographic_parity_gap": p_y_s1 - p_y_s0,
  }
  if eps_rep is not None and eps_assoc is not None:
    _, eps = broadcast_params(m, c, pi, eps_rep, eps_assoc)
    excess = np.concatenate([np.abs(rep) - eps[:m], (np.abs(assoc) - eps[m:].reshape(m, c)).ravel()])
    report["worst_violation"] = float(max(0.0, np.nanmax(excess))) if excess.size else 0.0
    report["constraints_met"] = bool(W > 0 and report["worst_violation"] <= tol)
  return report


def split_v(v: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
  """Duals in a's layout [+rep, -rep, +assoc, -assoc] -> (v+, v-) in the layout of g."""
  v = np.asarray(v, np.float64)
  mc = (len(v) - 2 * m) // 2
  return (np.concatenate([v[:m], v[2 * m:2 * m + mc]]), np.concatenate([v[m:2 * m], v[2 * m + mc:]]))


def join_v(v_plus: np.ndarray, v_minus: np.ndarray, m: int) -> np.ndarray:
  """Inverse of `split_v`."""
  return np.concatenate([v_plus[:m], v_minus[:m], v_plus[m:], v_minus[m:]])
