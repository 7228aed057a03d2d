"""Exact M4 fit on cells: projected Newton on the concave dual, and its KKT residuals.

With cell weights w (summing to 1), features g and tolerances eps (moments.py), the primal is
  min_q sum_k w_k ((gamma/2) q_k^2 - u_k q_k)  s.t.  sum_k w_k q_k a_k <= 0,  sum_k w_k q_k = eta,  0 <= q <= 1.
For duals x = (v+, v-, mu), v = (v+, v-) in [0, V], minimising over q gives
q_k = clip(t_k / gamma, 0, 1) with t_k = u_k - v.a_k - mu, and the negated dual
  F(x) = sum_k w_k psi(t_k) + eta mu,  psi(t) = 0 | t^2/(2 gamma) | t - gamma/2  (t <= 0 | < gamma | >= gamma),
which is convex, C^1 and piecewise quadratic: grad F = -(E[q a], E[q] - eta), and its generalised
Hessian sums w_k b_k b_k^T / gamma over cells with 0 < q_k < 1 (b_k = (a_k, 1)). Capping v at V
(soft mode) makes the same solve the dual of the penalty problem
  min f(q) + V sum_j max(0, E[q a_j])  s.t. E[q] = eta.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class DualSolution:
  v_plus: np.ndarray  # (D,) duals of E[q (g - eps)] <= 0
  v_minus: np.ndarray  # (D,) duals of E[q (-g - eps)] <= 0
  mu: float  # dual of E[q] = eta
  q: np.ndarray  # (K,) primal solution per cell
  iterations: int
  kkt_residual: float  # inf-norm of the projected dual gradient at the solution
  converged: bool


def cell_q(g, eps, u, v_plus, v_minus, mu, gamma) -> np.ndarray:
  t = u - g @ (v_plus - v_minus) + eps @ (v_plus + v_minus) - mu
  return np.clip(t / gamma, 0.0, 1.0)


def initial_mu(u: np.ndarray, w: np.ndarray, eta: float, gamma: float) -> float:
  """mu with E_w[clip((u - mu)/gamma, 0, 1)] = eta at v = 0, by bisection (monotone in mu)."""
  lo, hi = float(u.min()) - gamma, float(u.max())  # E[q] = 1 at lo, 0 at hi
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    if w @ np.clip((u - mid) / gamma, 0.0, 1.0) > eta:
      lo = mid
    else:
      hi = mid
    if hi - lo <= 1e-15 * max(1.0, abs(mid)):
      break
  return 0.5 * (lo + hi)


class _Dual:
  """F, its gradient and Hessian at x = (v+, v-, mu) for fixed cells."""

  def __init__(self, g, eps, w, u, eta, gamma):
    self.g, self.eps, self.w, self.u, self.eta, self.gamma = g, eps, w, u, eta, gamma
    self.D = g.shape[1]
    ones = np.ones((len(g), 1))
    self.g1 = np.concatenate([g, ones], axis=1)
    # b_k = T (g_k, 1): rows of T for v+ are (e_j, -eps_j), for v- (-e_j, -eps_j), for mu (0, 1).
    D = self.D
    T = np.zeros((2 * D + 1, D + 1))
    T[:D, :D], T[D:2 * D, :D] = np.eye(D), -np.eye(D)
    T[:2 * D, D] = -np.concatenate([eps, eps])
    T[2 * D, D] = 1.0
    self.T = T

  def t(self, x):
    D = self.D
    return self.u - self.g @ (x[:D] - x[D:2 * D]) + self.eps @ (x[:D] + x[D:2 * D]) - x[2 * D]

  def value(self, x):
    t, gm = self.t(x), self.gamma
    psi = np.where(t <= 0, 0.0, np.where(t < gm, t * t / (2 * gm), t - gm / 2))
    return self.w @ psi + self.eta * x[2 * self.D]

  def grad(self, x):
    q = np.clip(self.t(x) / self.gamma, 0.0, 1.0)
    wq = self.w * q
    e_q, e_qg = wq.sum(), wq @ self.g
    return np.concatenate([self.eps * e_q - e_qg, self.eps * e_q + e_qg, [self.eta - e_q]]), q

  def hessian(self, x):
    t = self.t(x)
    inside = (t > 0) & (t < self.gamma)
    gi = self.g1[inside]
    hr = (gi * (self.w[inside] / self.gamma)[:, None]).T @ gi
    return self.T @ hr @ self.T.T


def _residual(dual: _Dual, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
  """Inf-norm of the projected gradient: the worst KKT violation at x."""
  grad, _ = dual.grad(x)
  return float(np.abs(x - np.clip(x - grad, lo, hi)).max())


def solve(g: np.ndarray, eps: np.ndarray, w: np.ndarray, u: np.ndarray, *, eta: float, gamma: float,
          V: float, tol: float = 1e-12, max_iter: int = 500) -> DualSolution:
  """Minimises F over 0 <= v <= V, mu free, by Bertsekas' projected Newton with Armijo search.

  Free coordinates take a Levenberg-regularised Newton step (the Hessian is singular where
  cells are clipped and along v+ + v- when eps = 0); coordinates at a bound with the gradient
  pushing outward take a gradient step. Stops when the projected gradient, i.e. the worst
  violation of KKT, is below `tol`.
  """
  D = g.shape[1]
  dual = _Dual(g, eps, w, u, eta, gamma)
  lo = np.concatenate([np.zeros(2 * D), [-np.inf]])
  hi = np.concatenate([np.full(2 * D, V), [np.inf]])
  x = np.concatenate([np.zeros(2 * D), [initial_mu(u, w, eta, gamma)]])
  f = dual.value(x)
  it, res = 0, np.inf
  for it in range(1, max_iter + 1):
    grad, _ = dual.grad(x)
    res = float(np.abs(x - np.clip(x - grad, lo, hi)).max())
    if res <= tol:
      break
    near = min(1e-3, res)
    active = ((x <= lo + near) & (grad > 0)) | ((x >= hi - near) & (grad < 0))
    free = ~active
    h = dual.hessian(x)[np.ix_(free, free)]
    lam = 1e-12 + min(1.0, float(np.linalg.norm(grad[free])))
    d = np.where(active, -grad, 0.0)
    d[free] = -np.linalg.solve(h + lam * np.eye(len(h)), grad[free])
    alpha = 1.0
    for _ in range(60):
      x_new = np.clip(x + alpha * d, lo, hi)
      f_new = dual.value(x_new)
      decrease = -alpha * grad[free] @ d[free] + grad[active] @ (x[active] - x_new[active])
      if f_new <= f - 1e-4 * decrease or (f_new <= f and np.abs(x_new - x).max() <= 1e-15 * (1 + np.abs(x).max())):
        break
      # Near the optimum F's decrease (~ residual^2) is below its float rounding, so Armijo
      # cannot tell steps apart and would stall around 1e-12: then the KKT residual decides.
      if abs(f_new - f) <= 1e-14 * max(1.0, abs(f)) and _residual(dual, x_new, lo, hi) < res:
        break
      alpha *= 0.5
    x, f = x_new, f_new
  grad, q = dual.grad(x)
  res = float(np.abs(x - np.clip(x - grad, lo, hi)).max())
  return DualSolution(x[:D].copy(), x[D:2 * D].copy(), float(x[2 * D]), q, it, res, res <= tol)
