"""M4 fits: exact on cell statistics (default) or by streaming dual ascent; both check feasibility.

For a pool of any size the cell path is one aggregation pass (`CellStats`, mergeable), a small
solve here, and one map pass (`M4Fit.q` / `M4Fit.keep`).
"""

from __future__ import annotations

import math

import numpy as np

from webpairs.balancing.m4 import cells as cells_lib
from webpairs.balancing.m4 import dual
from webpairs.balancing.m4 import feasibility
from webpairs.balancing.m4 import moments
from webpairs.balancing.m4 import state as state_lib
from webpairs.balancing.m4 import stream as stream_lib

FEASIBILITY_SLACK = 1e-9  # eta above eta_max by more than this is infeasible (LP tolerance 1e-10)


def _check_params(eta, V, gamma):
  if not 0.0 < eta < 1.0:
    raise ValueError(f"eta must be in (0, 1), got {eta}")
  if not V >= 0.0:
    raise ValueError(f"V must be >= 0 (inf = hard constraints), got {V}")
  if not gamma > 0.0:
    raise ValueError(f"gamma must be > 0, got {gamma}")


def _feasibility(g, eps, w, eta, V) -> dict:
  """Exact feasibility of eta; raises `InfeasibleError` in hard mode (V = inf)."""
  eta_max = feasibility.cells_max_eta(g, eps, w)
  info = {"max_feasible_eta": eta_max, "infeasible": eta > eta_max + FEASIBILITY_SLACK, "reason": ""}
  if info["infeasible"]:
    reason = (f"eta={eta:g} exceeds the largest keep rate {eta_max:.6g} at which some q in [0, 1] meets "
              "the representation and association tolerances")
    if math.isinf(V):
      raise state_lib.InfeasibleError(reason + "; lower eta, widen eps, or set V for soft constraints",
                                      eta=eta, max_feasible_eta=eta_max)
    info["reason"] = reason + f"; soft constraints (V={V:g}) trade violations against utility"
  return info


def _diagnostics(g, eps, w, q, eta) -> dict:
  """Expected keep rate and worst tolerance excess of the q-weighted cells."""
  e_q = float(w @ q)
  excess = np.abs((w * q) @ g) - eps * e_q  # |E[q g_j]| - eps_j E[q], i.e. E[q] (|bias| - eps)
  worst = float(max(0.0, excess.max() / e_q)) if e_q > 0 else math.inf
  return {"expected_keep_rate": e_q, "keep_rate_error": e_q - eta, "worst_violation": worst}


def fit_cells(stats: cells_lib.CellStats, *, pi, eps_rep, eps_assoc, eta: float, V: float = math.inf,
              gamma: float = 1.0, seed: int = 0, tol: float = 1e-12, attributes=None,
              concepts=None) -> state_lib.M4Fit:
  """Exact fit on aggregated cells: feasibility LP, then projected Newton on the dual (dual.py)."""
  _check_params(eta, V, gamma)
  s, y, u, count = stats.arrays()
  if not len(count):
    raise ValueError("no examples")
  pi, eps = moments.broadcast_params(stats.m, stats.c, pi, eps_rep, eps_assoc)
  g, w = moments.features(s, y, pi), count / count.sum()
  info = {"n": int(count.sum()), "n_cells": len(count), **_feasibility(g, eps, w, eta, V)}
  sol = dual.solve(g, eps, w, u, eta=eta, gamma=gamma, V=V, tol=tol)
  info.update(iterations=sol.iterations, kkt_residual=sol.kkt_residual, converged=sol.converged,
              **_diagnostics(g, eps, w, sol.q, eta))
  if math.isinf(V) and not sol.converged:
    raise state_lib.InfeasibleError(
        f"eta={eta:g} is at the feasibility boundary (max {info['max_feasible_eta']:.6g}): the dual did not "
        f"converge (KKT residual {sol.kkt_residual:.2g})", eta=eta, max_feasible_eta=info["max_feasible_eta"])
  return state_lib.M4Fit(
      pi=pi, eps_rep=eps[:stats.m].copy(), eps_assoc=eps[stats.m:].reshape(stats.m, stats.c), eta=float(eta),
      V=float(V), gamma=float(gamma), seed=int(seed), v=moments.join_v(sol.v_plus, sol.v_minus, stats.m),
      mu=sol.mu, method="cells", info=info, attributes=_names(attributes), concepts=_names(concepts))


def fit(s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None, *, pi, eps_rep, eps_assoc, eta: float,
        V: float = math.inf, gamma: float = 1.0, method: str = "cells", seed: int = 0, u_step: float = 0.01,
        batch_size: int = 256, epochs: int = 1, lr: float = 1.0, tau: float = 1000.0, shuffle: bool = True,
        attributes=None, concepts=None) -> state_lib.M4Fit:
  """Fits M4 sampling probabilities to s (n, m), y (n, c) of 0/1 and utilities u (n,) (None: 1).

  Constraints (on the kept sample, i.e. normalised by E[q]): |E_q[s - pi]| <= eps_rep and
  |E_q[(s - pi) y]| <= eps_assoc, E[q] = eta; pi, eps_rep broadcast to (m,), eps_assoc to (m, c).
  V = inf: hard constraints, `InfeasibleError` if no q meets them; finite V: soft constraints
  (penalty V per unit of violation), an infeasible eta is flagged in `info`.
  method='cells': exact solve on unique (s, y, utility bucket of width u_step) cells.
  method='stream': `StreamFitter` over the rows (shuffled by `seed` unless shuffle=False) for
  `epochs` passes; feasibility is still checked exactly on the cells.
  `seed` also seeds the keep rule's hash.
  """
  _check_params(eta, V, gamma)
  stats = cells_lib.CellStats.from_arrays(s, y, u, u_step=u_step)
  kw = dict(pi=pi, eps_rep=eps_rep, eps_assoc=eps_assoc, eta=eta, V=V, gamma=gamma, seed=seed)
  if method == "cells":
    return fit_cells(stats, **kw, attributes=attributes, concepts=concepts)
  if method != "stream":
    raise ValueError(f"method must be 'cells' or 'stream', got {method!r}")
  cs, cy, cu, count = stats.arrays()
  pi_, eps = moments.broadcast_params(stats.m, stats.c, pi, eps_rep, eps_assoc)
  g, w = moments.features(cs, cy, pi_), count / count.sum()
  info = {"n_cells": len(count), **_feasibility(g, eps, w, eta, V)}
  fitter = stream_lib.StreamFitter(stats.m, stats.c, batch_size=batch_size, lr=lr, tau=tau, **kw)
  rng = np.random.default_rng(seed)
  for _ in range(epochs):
    order = rng.permutation(len(s)) if shuffle else np.arange(len(s))
    fitter.partial_fit(np.asarray(s)[order], np.asarray(y)[order], None if u is None else np.asarray(u)[order])
    fitter.flush()
  result = fitter.result(info=info)
  q = dual.cell_q(g, eps, cu, *moments.split_v(result.v, stats.m), result.mu, gamma)
  result.info.update(_diagnostics(g, eps, w, q, eta))
  result.attributes, result.concepts = _names(attributes), _names(concepts)
  return result


def _names(names) -> tuple[str, ...] | None:
  return None if names is None else tuple(str(x) for x in names)
