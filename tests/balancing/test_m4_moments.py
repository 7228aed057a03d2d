"""a(x) in closed form, q at zero duals, and the moment/normalised-bias equivalence (tests 1, 2)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from webpairs.balancing import m4


def test_bias_vector_shape_and_closed_form():
  s = np.array([[1, 0], [1, 1], [0, 0]], np.uint8)
  y = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 1]], np.uint8)
  pi, er, ed = np.array([0.3, 0.4]), 0.01, 0.02
  a = m4.bias_vector(s, y, pi=pi, eps_rep=er, eps_assoc=ed)
  m, c = 2, 3
  assert a.shape == (3, 2 * m * (c + 1))
  for i in range(3):
    z = s[i] - pi
    zy = np.outer(z, y[i]).ravel()  # row-major: z_k y_j at k*c + j
    expected = np.concatenate([z - er, -z - er, zy - ed, -zy - ed])
    np.testing.assert_allclose(a[i], expected, rtol=0, atol=1e-15)


def test_bias_vector_per_attribute_tolerances():
  s, y = np.array([[1, 0]]), np.array([[1]])
  a = m4.bias_vector(s, y, pi=[0.5, 0.2], eps_rep=[0.1, 0.2], eps_assoc=[[0.3], [0.4]])
  # z = (0.5, -0.2): +rep z - eR, -rep -z - eR, +assoc z y - eD, -assoc -z y - eD.
  np.testing.assert_allclose(a[0], [0.4, -0.4, -0.6, 0.0, 0.2, -0.6, -0.8, -0.2], atol=1e-15)


def test_q_at_zero_duals_is_clipped_utility():
  m, c, gamma = 2, 3, 0.7
  fit = m4.M4Fit(pi=np.array([0.3, 0.3]), eps_rep=np.full(m, 0.01), eps_assoc=np.full((m, c), 0.01), eta=0.5,
                 V=math.inf, gamma=gamma, seed=0, v=np.zeros(2 * m * (c + 1)), mu=0.0)
  rng = np.random.default_rng(0)
  s, y = rng.integers(0, 2, (50, m)), rng.integers(0, 2, (50, c))
  u = rng.uniform(-0.5, 1.5, 50)
  np.testing.assert_array_equal(fit.q(s, y, u), np.clip(u / gamma, 0, 1))
  np.testing.assert_array_equal(fit.q(s, y), np.full(50, 1.0))  # u defaults to 1, and 1/0.7 clips to 1


def test_q_matches_definition_at_random_duals():
  m, c = 2, 4
  rng = np.random.default_rng(1)
  s, y, u = rng.integers(0, 2, (40, m)), rng.integers(0, 2, (40, c)), rng.uniform(0, 2, 40)
  fit = m4.M4Fit(pi=np.array([0.2, 0.6]), eps_rep=np.array([0.01, 0.03]), eps_assoc=rng.uniform(0, 0.05, (m, c)),
                 eta=0.5, V=math.inf, gamma=1.3, seed=0, v=rng.uniform(0, 2, 2 * m * (c + 1)), mu=0.2)
  a = m4.bias_vector(s, y, pi=fit.pi, eps_rep=fit.eps_rep, eps_assoc=fit.eps_assoc)
  np.testing.assert_allclose(fit.q(s, y, u), np.clip((u - a @ fit.v - fit.mu) / fit.gamma, 0, 1), atol=1e-13)


# Dyadic values keep every sum and product exact in float64, so the equivalence is tested exactly.
@st.composite
def _dyadic_problem(draw):
  n, m, c = draw(st.integers(1, 12)), draw(st.integers(1, 3)), draw(st.integers(0, 3))
  bits = st.integers(0, 1)
  s = np.array(draw(st.lists(st.lists(bits, min_size=m, max_size=m), min_size=n, max_size=n)), np.uint8)
  y = np.array(draw(st.lists(st.lists(bits, min_size=c, max_size=c), min_size=n, max_size=n)), np.uint8).reshape(n, c)
  q = np.array(draw(st.lists(st.integers(0, 8), min_size=n, max_size=n)), np.float64) / 8
  pi = np.array(draw(st.lists(st.integers(0, 16), min_size=m, max_size=m)), np.float64) / 16
  eps_r = draw(st.integers(0, 16)) / 64
  eps_d = draw(st.integers(0, 16)) / 64
  return s, y, q, pi, eps_r, eps_d


@settings(max_examples=300, deadline=None)
@given(_dyadic_problem())
def test_moment_constraints_equal_normalised_bias_bounds(problem):
  s, y, q, pi, eps_r, eps_d = problem
  if q.sum() == 0:
    return  # E_q is undefined; E[q a] = 0 <= 0 holds trivially
  a = m4.bias_vector(s, y, pi=pi, eps_rep=eps_r, eps_assoc=eps_d)
  moments_hold = bool((q @ a / len(q) <= 0).all())
  rep = m4.bias_report(s, y, q, pi)
  # E[q a] <= 0  <=>  |E_q[s - pi]| <= eps_R and |E_q[(s - pi) y]| <= eps_D, where E_q[f] = E[q f] / E[q].
  bounds_hold = bool((np.abs(rep["representation"]) <= eps_r).all() and (np.abs(rep["association"]) <= eps_d).all())
  assert moments_hold == bounds_hold
  assert m4.bias_report(s, y, q, pi, eps_rep=eps_r, eps_assoc=eps_d)["constraints_met"] == bounds_hold


def test_bias_report_values():
  s = np.array([[1, 0], [0, 1], [0, 1], [0, 0]])
  y = np.array([[1], [1], [0], [0]])
  rep = m4.bias_report(s, y, np.array([1.0, 1.0, 0.0, 2.0]), [0.5, 0.5], eps_rep=0.1, eps_assoc=0.1)
  # Weighted sample: rows 0, 1 once, row 3 twice; W = 4.
  np.testing.assert_allclose(rep["representation"], [0.25 - 0.5, 0.25 - 0.5])
  np.testing.assert_allclose(rep["association"], [[(0.5 * 1 + -0.5 * 1) / 4], [(-0.5 + 0.5) / 4]])
  # P(y | s1 = 1) = 1, P(y | s1 = 0) = 1/3; P(y | s2 = 1) = 1, P(y | s2 = 0) = 1/3.
  np.testing.assert_allclose(rep["demographic_parity_gap"], [[2 / 3], [2 / 3]])
  assert rep["keep_rate"] == 1.0 and rep["n"] == 4
  assert math.isclose(rep["worst_violation"], 0.15) and not rep["constraints_met"]
