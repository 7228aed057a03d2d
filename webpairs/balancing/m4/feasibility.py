"""The largest keep rate eta that the M4 constraints allow, found exactly by one LP on cells.

The constraints E[q a] <= 0 are homogeneous in q, so if q is feasible so is t q for t in [0, 1]:
the feasible rates form the interval [0, eta_max] with
  eta_max = max sum_k r_k  s.t.  sum_k r_k a_k <= 0,  0 <= r_k <= w_k   (r_k = w_k q_k).
One LP therefore replaces a bisection over eta. It does not depend on utilities or gamma.
"""

from __future__ import annotations

import numpy as np

from webpairs.balancing.m4 import cells as cells_lib
from webpairs.balancing.m4 import moments

LP_TOL = 1e-10  # HiGHS primal/dual feasibility tolerance (its smallest allowed value)


def cells_max_eta(g: np.ndarray, eps: np.ndarray, w: np.ndarray) -> float:
  """eta_max for cells with features g (K, D), tolerances eps (D,) and weights w (K,) summing to 1."""
  try:
    from scipy import sparse
    from scipy.optimize import linprog
  except ImportError as e:  # scipy comes with the test extra; say what needs it
    raise ImportError("m4 feasibility checks need scipy (pip install scipy)") from e
  K, D = g.shape
  # Variables (r, R) with R = sum r, so that each row stays as sparse as g:
  #   g_j.r - eps_j R <= 0  and  -g_j.r - eps_j R <= 0,  i.e. |E[q g_j]| <= eps_j E[q].
  gt = sparse.csr_matrix(g.T)
  e = sparse.csr_matrix(-eps[:, None])
  a_ub = sparse.vstack([sparse.hstack([gt, e]), sparse.hstack([-gt, e])]).tocsr()
  a_eq = sparse.csr_matrix(np.concatenate([np.ones(K), [-1.0]])[None])
  bounds = np.concatenate([np.stack([np.zeros(K), w], 1), [[0.0, None]]]).tolist()
  res = linprog(np.concatenate([np.zeros(K), [-1.0]]), A_ub=a_ub, b_ub=np.zeros(2 * D), A_eq=a_eq, b_eq=[0.0],
                bounds=bounds, method="highs",
                options={"primal_feasibility_tolerance": LP_TOL, "dual_feasibility_tolerance": LP_TOL})
  if res.status != 0:
    raise RuntimeError(f"feasibility LP failed: {res.message}")
  return float(min(1.0, max(0.0, -res.fun)))


def max_feasible_eta_cells(stats: cells_lib.CellStats, *, pi, eps_rep, eps_assoc) -> float:
  """`max_feasible_eta` on aggregated cell statistics."""
  s, y, _, count = stats.arrays()
  if not len(count):
    raise ValueError("no examples")
  pi, eps = moments.broadcast_params(stats.m, stats.c, pi, eps_rep, eps_assoc)
  return cells_max_eta(moments.features(s, y, pi), eps, count / count.sum())


def max_feasible_eta(s: np.ndarray, y: np.ndarray, *, pi, eps_rep, eps_assoc) -> float:
  """Largest E[q] for which some q in [0, 1] meets |E_q[s - pi]| <= eps_R and |E_q[(s - pi) y]| <= eps_D."""
  return max_feasible_eta_cells(cells_lib.CellStats.from_arrays(s, y), pi=pi, eps_rep=eps_rep, eps_assoc=eps_assoc)
