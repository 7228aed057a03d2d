"""Streaming dual ascent: batch sizes, orders, the cell-exact fit, and exact resume (test 8)."""

import numpy as np

from tests.balancing import synth
from webpairs.balancing import m4

KW = dict(pi=(0.35, 0.35), eps_rep=0.01, eps_assoc=0.005, eta=0.45)


def _data():
  return synth.biased(10_000, c=3, seed=1)


def _close_to_exact(fit, s, y, exact, *, keep_rate, violation, mean_dq, max_dq):
  q = fit.q(s, y)
  assert abs(q.mean() - KW["eta"]) < keep_rate, q.mean()
  assert fit.report(s, y)["worst_violation"] < violation
  assert np.abs(q - exact).mean() < mean_dq and np.abs(q - exact).max() < max_dq
  return q


def test_batch_sizes_orders_and_cells_agree():
  s, y = _data()  # small: three epochs; the error shrinks like 1/sqrt(examples seen)
  exact = m4.fit(s, y, **KW).q(s, y)
  qs = {}
  for batch, seed in [(1, 0), (256, 0), (256, 1), (256, 2)]:
    fit = m4.fit(s, y, **KW, method="stream", batch_size=batch, epochs=3, seed=seed)
    qs[batch, seed] = _close_to_exact(fit, s, y, exact, keep_rate=0.006, violation=0.005, mean_dq=0.01, max_dq=0.08)
  # Same order, batch 1 vs 256: the step rule makes their paths nearly identical.
  assert np.abs(qs[1, 0] - qs[256, 0]).max() < 0.01
  # Different shuffles land within the same tolerance of each other.
  assert np.abs(qs[256, 1] - qs[256, 2]).max() < 0.08


def test_one_pass_over_more_data_is_closer():
  s, y = synth.biased(100_000, c=3, seed=1)
  exact = m4.fit(s, y, **KW).q(s, y)
  for seed in range(2):
    fit = m4.fit(s, y, **KW, method="stream", batch_size=256, epochs=1, seed=seed)
    _close_to_exact(fit, s, y, exact, keep_rate=0.002, violation=0.002, mean_dq=0.003, max_dq=0.03)


def test_resumed_fit_equals_uninterrupted():
  s, y = _data()
  u = np.random.default_rng(0).uniform(0.8, 1.2, len(s))
  whole = m4.StreamFitter(2, 3, **KW, batch_size=64).partial_fit(s, y, u).flush()
  part = m4.StreamFitter(2, 3, **KW, batch_size=64)
  cut = 4_321  # not a multiple of the batch size: the partial batch travels in the saved state
  part.partial_fit(s[:cut], y[:cut], u[:cut])
  resumed = m4.StreamFitter.from_json(part.to_json())
  resumed.partial_fit(s[cut:], y[cut:], u[cut:]).flush()
  a, b = whole.result(), resumed.result()
  np.testing.assert_array_equal(a.v, b.v)
  assert a.mu == b.mu and a.info == b.info
  np.testing.assert_array_equal(a.q(s, y, u), b.q(s, y, u))


def test_stream_soft_cap_and_infeasible_flag():
  s, y = _data()
  eta_max = m4.max_feasible_eta(s, y, pi=KW["pi"], eps_rep=KW["eps_rep"], eps_assoc=KW["eps_assoc"])
  fit = m4.fit(s, y, **{**KW, "eta": min(0.95, eta_max + 0.1)}, V=0.5, method="stream")
  assert fit.infeasible and (fit.v <= 0.5).all() and fit.v.max() > 0.4
