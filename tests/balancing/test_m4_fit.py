"""M4 fits on synthetic data: unbiased, biased at scale, overlapping groups, utilities (tests 3, 4, 7, 9)."""

import hashlib
import json
import math

import numpy as np
import pytest

from tests.balancing import synth
from webpairs.balancing import m4

PAPER = dict(pi=(0.35, 0.35), eps_rep=0.01, eps_assoc=0.005, eta=0.45)


def test_unbiased_data_keeps_everything_at_eta():
  s, y = synth.balanced(reps=50, pi=(0.25, 0.25), c=2)
  fit = m4.fit(s, y, pi=(0.25, 0.25), eps_rep=0.01, eps_assoc=0.005, eta=0.6)
  np.testing.assert_allclose(fit.q(s, y), 0.6, atol=1e-12)
  np.testing.assert_allclose(fit.v, 0.0, atol=1e-12)


def test_nearly_unbiased_sample_stays_close_to_eta():
  rng = np.random.default_rng(3)
  n = 100_000
  s = (rng.random((n, 2)) < 0.3).astype(np.uint8)  # independent of y, E[s] ~ pi up to sampling noise
  y = (rng.random((n, 4)) < 0.2).astype(np.uint8)
  fit = m4.fit(s, y, pi=(0.3, 0.3), eps_rep=0.01, eps_assoc=0.005, eta=0.5)
  q = fit.q(s, y)
  assert np.abs(q - 0.5).max() < 0.03
  assert fit.report(s, y)["constraints_met"]


def test_biased_400k_constraints_hold_and_bernoulli_subset_agrees():
  s, y = synth.biased(400_000, c=5, seed=0)
  before = m4.bias_report(s, y, None, PAPER["pi"], eps_rep=0.01, eps_assoc=0.005)
  assert before["worst_violation"] > 0.1  # the data are far from the targets
  fit = m4.fit(s, y, **PAPER)
  q = fit.q(s, y)
  after = fit.report(s, y)
  assert abs(q.mean() - 0.45) < 1e-9
  assert after["worst_violation"] < 1e-9 and not fit.infeasible
  assert fit.info["converged"] and fit.info["kkt_residual"] < 1e-10
  # Realised subset: each statistic is a ratio sum(k f) / sum(k) with k ~ Bernoulli(q); its
  # delta-method sd is sqrt(sum q (1 - q) (f - R)^2) / sum q around the expected value R.
  keys = [f"shard-{i // 1000:05d}/{i:09d}" for i in range(len(s))]
  keep = fit.keep(keys, s, y)
  real = fit.report(s, y, keep=keep)
  assert abs(keep.mean() - q.mean()) <= 3 * math.sqrt((q * (1 - q)).sum()) / len(q)
  z = s - np.array(PAPER["pi"])
  feats = {("representation", i): s[:, i] for i in range(2)}
  feats.update({("association", (i, j)): z[:, i] * y[:, j] for i in range(2) for j in range(5)})
  var_w = q * (1 - q)
  for (name, index), f in feats.items():
    expected, realised = after[name][index], real[name][index]
    mean = f @ q / q.sum()
    sd = math.sqrt(var_w @ (f - mean) ** 2) / q.sum()
    assert abs(realised - expected) <= 3 * sd, (name, index, realised, expected, sd)


def test_keep_rule_is_the_documented_hash():
  s, y = synth.biased(200, c=2, seed=1)
  fit = m4.fit(s, y, **PAPER, seed=7)
  keys = [f"key{i}" for i in range(200)]
  q = fit.q(s, y)
  expected = []
  for key, qi in zip(keys, q):
    h = int.from_bytes(hashlib.blake2b(f"7:{key}".encode(), digest_size=8).digest(), "big")
    expected.append((h >> 11) / 2**53 < qi)
  np.testing.assert_array_equal(fit.keep(keys, s, y), expected)
  # Order-free: a permutation of the rows gives the permuted decisions.
  perm = np.random.default_rng(0).permutation(200)
  np.testing.assert_array_equal(fit.keep([keys[i] for i in perm], s[perm], y[perm]), np.array(expected)[perm])


def test_overlapping_groups_and_rows_without_attributes():
  s, y = synth.overlapping(60_000, c=3, seed=2)
  assert ((s == 1).all(1)).mean() > 0.05 and ((s == 0).all(1)).mean() > 0.3
  pi = (0.35, 0.3)
  fit = m4.fit(s, y, pi=pi, eps_rep=0.01, eps_assoc=0.005, eta=0.5)
  rep = fit.report(s, y)
  assert rep["constraints_met"] and abs(rep["keep_rate"] - 0.5) < 1e-9
  assert abs(rep["representation"]).max() <= 0.01 + 1e-9
  # Rows with both attributes count for both; rows with neither pull both shares down.
  q = fit.q(s, y)
  by_pattern = {p: q[(s == p).all(1)].mean() for p in [(0, 0), (1, 0), (0, 1), (1, 1)]}
  assert by_pattern[(0, 1)] > by_pattern[(1, 0)]  # attribute 2 is rarer (25% vs 45%) than its target share


def test_absent_attribute_with_positive_target_is_infeasible():
  s, y = synth.overlapping(5_000, seed=3)
  s[:, 1] = 0
  assert m4.max_feasible_eta(s, y, pi=(0.3, 0.3), eps_rep=0.01, eps_assoc=0.01) == 0.0
  with pytest.raises(m4.InfeasibleError):
    m4.fit(s, y, pi=(0.3, 0.3), eps_rep=0.01, eps_assoc=0.01, eta=0.2)


def test_raising_one_cells_utility_raises_its_q():
  s, y = synth.biased(30_000, c=3, seed=4)
  u = np.ones(len(s))
  base = m4.fit(s, y, u, **PAPER)
  q0 = base.q(s, y, u)
  cell = (s == (0, 1)).all(1) & (y == (0, 1, 0)).all(1)
  assert 0 < q0[cell][0] < 1
  u2 = np.where(cell, 1.2, 1.0)
  q1 = m4.fit(s, y, u2, **PAPER).q(s, y, u2)
  assert q1[cell][0] > q0[cell][0] + 1e-3
  assert abs(q1.mean() - 0.45) < 1e-9


def test_json_round_trip_is_exact():
  s, y = synth.biased(5_000, c=3, seed=5)
  u = np.random.default_rng(0).uniform(0.5, 1.5, len(s))
  fit = m4.fit(s, y, u, **PAPER, attributes=["female", "male"], concepts=["a", "b", "c"])
  text = fit.to_json()
  json.loads(text)  # plain JSON: no NaN or Infinity tokens
  assert "Infinity" not in text
  back = m4.M4Fit.from_json(text)
  np.testing.assert_array_equal(back.q(s, y, u), fit.q(s, y, u))
  assert back.V == math.inf and back.concepts == ("a", "b", "c") and back.info == fit.info


def test_invalid_arguments():
  s, y = synth.biased(100, c=2)
  for bad in [dict(eta=0.0), dict(eta=1.0), dict(gamma=0.0), dict(V=-1.0)]:
    with pytest.raises(ValueError):
      m4.fit(s, y, **{**PAPER, **bad})
  with pytest.raises(ValueError):
    m4.fit(s * 2, y, **PAPER)
  with pytest.raises(ValueError):
    m4.fit(s, y, **PAPER, method="newton")
