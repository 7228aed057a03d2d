"""The cell solve against independent scipy solves: QP optimality, KKT, infeasibility, soft mode (tests 5, 6)."""

import math

import numpy as np
import pytest
from scipy import optimize

from tests.balancing import synth
from webpairs.balancing import m4

TOL = dict(pi=(0.35, 0.35), eps_rep=0.01, eps_assoc=0.005)
GAMMA = 0.8


def _cells(n=20_000, seed=0):
  s, y = synth.biased(n, c=2, seed=seed)
  u = np.random.default_rng(seed).choice([0.7, 1.0, 1.4], size=n)  # three utility buckets per (s, y)
  stats = m4.CellStats.from_arrays(s, y, u)
  cs, cy, cu, count = stats.arrays()
  a = m4.bias_vector(cs, cy, **TOL)
  return stats, a, cu, count / count.sum()


def _objective(q, w, u):
  return float(w @ (GAMMA / 2 * q * q - u * q))


def _qp(a, u, w, eta, V=None):
  """min sum w (gamma/2 q^2 - u q) s.t. E[q] = eta, 0 <= q <= 1, and E[q a] <= 0 (hard) or a penalty
  V sum_j max(0, E[q a_j]) written with slacks t_j >= E[q a_j], t_j >= 0 (soft). SLSQP on the primal."""
  K, J = a.shape
  soft = V is not None
  nt = J if soft else 0

  def f(x):
    return _objective(x[:K], w, u) + (V * x[K:].sum() if soft else 0.0)

  def grad(x):
    return np.concatenate([w * (GAMMA * x[:K] - u), np.full(nt, V) if soft else []])

  wa = (w[:, None] * a).T  # (J, K): row j gives E[q a_j]
  cons = [{"type": "eq", "fun": lambda x: np.array([w @ x[:K] - eta]),
           "jac": lambda x: np.concatenate([w, np.zeros(nt)])[None]}]
  if soft:
    cons.append({"type": "ineq", "fun": lambda x: x[K:] - wa @ x[:K],
                 "jac": lambda x: np.concatenate([-wa, np.eye(J)], axis=1)})
  else:
    cons.append({"type": "ineq", "fun": lambda x: -wa @ x[:K], "jac": lambda x: -wa})
  x0 = np.concatenate([np.full(K, eta), np.ones(nt)])
  bounds = [(0, 1)] * K + [(0, None)] * nt
  res = optimize.minimize(f, x0, jac=grad, constraints=cons, bounds=bounds, method="SLSQP",
                          options={"ftol": 1e-15, "maxiter": 2000})
  assert res.success, res.message
  return res.x[:K], res.fun


def _cell_q(fit, stats):
  cs, cy, cu, _ = stats.arrays()
  return fit.q(cs, cy, cu)


def test_cell_solution_matches_independent_qp_and_kkt_holds():
  stats, a, u, w = _cells()
  assert 20 <= len(w) <= 40
  fit = m4.fit_cells(stats, **TOL, eta=0.45, gamma=GAMMA)
  q = _cell_q(fit, stats)
  q_ref, f_ref = _qp(a, u, w, 0.45)
  np.testing.assert_allclose(q, q_ref, atol=2e-6)
  assert _objective(q, w, u) <= f_ref + 1e-10  # never worse than the reference optimum
  # KKT: primal feasibility, dual feasibility, complementary slackness; stationarity is q's formula.
  moments = (w * q) @ a
  assert moments.max() <= 1e-12 and abs(w @ q - 0.45) <= 1e-12
  assert (fit.v >= 0).all() and (fit.v > 1e-8).any()
  assert np.abs(fit.v * moments).max() <= 1e-12
  np.testing.assert_allclose(q, np.clip((u - a @ fit.v - fit.mu) / GAMMA, 0, 1), atol=1e-14)


def test_infeasible_eta_hard_soft_and_max_feasible_eta_brackets():
  stats, a, u, w = _cells(seed=1)
  eta_max = m4.max_feasible_eta_cells(stats, **TOL)
  assert 0.3 < eta_max < 0.9
  # Independent check of eta_max: plain LP feasibility of {E[q] = eta, E[q a] <= 0, 0 <= q <= 1}.
  def feasible(eta):
    res = optimize.linprog(np.zeros(len(w)), A_ub=(w[:, None] * a).T, b_ub=np.zeros(a.shape[1]),
                           A_eq=w[None], b_eq=[eta], bounds=(0, 1), method="highs")
    return res.status == 0
  assert feasible(eta_max - 1e-4) and not feasible(eta_max + 1e-4)
  # Hard mode: fits just below the transition, refuses just above with the reason.
  below = m4.fit_cells(stats, **TOL, eta=eta_max - 1e-3, gamma=GAMMA)
  assert below.info["worst_violation"] < 1e-9 and not below.infeasible
  with pytest.raises(m4.InfeasibleError) as err:
    m4.fit_cells(stats, **TOL, eta=eta_max + 1e-3, gamma=GAMMA)
  assert err.value.max_feasible_eta == pytest.approx(eta_max) and "exceeds" in err.value.reason
  # Soft mode at the infeasible eta: flagged, and equal to the penalty problem's solution.
  eta = min(0.95, eta_max + 0.1)
  soft = m4.fit_cells(stats, **TOL, eta=eta, gamma=GAMMA, V=0.5)
  assert soft.infeasible and "soft constraints" in soft.reason and soft.info["worst_violation"] > 1e-3
  assert np.isclose(soft.v, 0.5).any() and (soft.v <= 0.5 + 1e-12).all()
  q_ref, f_ref = _qp(a, u, w, eta, V=0.5)
  q = _cell_q(soft, stats)
  np.testing.assert_allclose(q, q_ref, atol=2e-5)
  penalty = _objective(q, w, u) + 0.5 * np.maximum(0, (w * q) @ a).sum()
  assert penalty <= f_ref + 1e-9


def test_soft_mode_with_large_cap_equals_hard_mode_when_feasible():
  stats, _, _, _ = _cells(seed=2)
  hard = m4.fit_cells(stats, **TOL, eta=0.4, gamma=GAMMA)
  soft = m4.fit_cells(stats, **TOL, eta=0.4, gamma=GAMMA, V=1e4)
  assert hard.v.max() < 1e4 and not soft.infeasible
  np.testing.assert_allclose(_cell_q(soft, stats), _cell_q(hard, stats), atol=1e-10)
  assert math.isinf(hard.V) and soft.V == 1e4
