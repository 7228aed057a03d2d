"""M4 on a curation pool: the balance config, parity pi, reports from cells equal reports from rows."""

import math

import numpy as np
import pytest

from tests.balancing import synth
from webpairs.balancing import m4
from webpairs.balancing import m4_pool


def test_config_from_mapping_and_its_checks():
  cfg = m4_pool.BalanceConfig.from_mapping({"pi": [0.3], "eta": 0.5, "V": 2, "attributes": ["female"], "seed": 7})
  assert cfg.pi == (0.3,) and cfg.V == 2.0 and not cfg.hard and cfg.attributes == ("female",) and cfg.seed == 7
  assert m4_pool.BalanceConfig().hard and m4_pool.BalanceConfig().source == m4_pool.ANNOTATIONS
  for bad in ({"eta": 0.0}, {"eps_rep": -1}, {"gamma": 0}, {"pi": [1.5]}, {"source": "images"}, {"u_step": 0}):
    with pytest.raises(ValueError):
      m4_pool.BalanceConfig.from_mapping(bad)


def test_pick_names_in_the_configured_order():
  assert m4_pool.pick(["a", "b", "c"], [], "concepts") == [0, 1, 2]
  assert m4_pool.pick(["a", "b", "c"], ["c", "a"], "concepts") == [2, 0]
  with pytest.raises(ValueError, match="'d'"):
    m4_pool.pick(["a", "b"], ["d"], "attributes")


def test_parity_pi_is_the_mean_attribute_share_and_a_given_pi_broadcasts():
  s, y = synth.biased(5_000, seed=2)
  stats = m4.CellStats.from_arrays(s, y)
  np.testing.assert_allclose(m4_pool.pool_pi(stats, m4_pool.BalanceConfig()), np.full(2, s.mean(0).mean()))
  np.testing.assert_array_equal(m4_pool.pool_pi(stats, m4_pool.BalanceConfig(pi=(0.25,))), [0.25, 0.25])
  with pytest.raises(ValueError, match="3 values for 2 attributes"):
    m4_pool.pool_pi(stats, m4_pool.BalanceConfig(pi=(0.1, 0.2, 0.3)))


def test_reports_from_cells_equal_reports_from_rows():
  s, y = synth.biased(20_000, seed=4)
  u = np.random.default_rng(0).uniform(0.5, 1.0, len(s))
  stats = m4.CellStats.from_arrays(s, y, u)
  cfg = m4_pool.BalanceConfig(pi=(0.35,), eps_rep=0.01, eps_assoc=0.005, eta=0.45)
  fit = m4_pool.fit_pool(stats, cfg, ["a", "b"], [f"c{j}" for j in range(y.shape[1])])
  assert fit.attributes == ("a", "b") and fit.info["expected_keep_rate"] == pytest.approx(0.45)
  # 1,800 utility cells: the dual's Armijo search once stalled at a 3e-12 residual here and hard
  # mode called eta = 0.45 (max 0.55) infeasible; the KKT residual now decides where F is flat.
  assert fit.info["converged"] and fit.info["iterations"] < 30
  before = m4_pool.cells_report(stats, fit.pi, eps_rep=0.01, eps_assoc=0.005)
  rows = m4.bias_report(s, y, None, fit.pi, eps_rep=0.01, eps_assoc=0.005)
  np.testing.assert_allclose(before["association"], rows["association"], atol=1e-15)
  assert before["n"] == len(s) and before["keep_rate"] == 1.0
  # Kept rows against the pool: keep_rate is relative to `total`.
  keep = fit.keep([str(i) for i in range(len(s))], s, y, u)
  kept = m4.CellStats.from_arrays(s[keep], y[keep], u[keep])
  after = m4_pool.cells_report(kept, fit.pi, eps_rep=0.01, eps_assoc=0.005, total=len(s))
  assert after["keep_rate"] == pytest.approx(keep.mean())
  np.testing.assert_allclose(after["representation"], m4.bias_report(s, y, keep, fit.pi)["representation"])
  expected = m4_pool.cells_report(stats, fit.pi, eps_rep=0.01, eps_assoc=0.005, q=m4_pool.cell_q(fit, stats))
  assert expected["constraints_met"] and expected["keep_rate"] == pytest.approx(0.45)


def test_named_report_is_json_with_null_for_empty_parity_sides():
  s = np.array([[1, 0], [1, 0], [0, 0]], np.uint8)  # nobody has the second attribute
  y = np.array([[1], [0], [1]], np.uint8)
  stats = m4.CellStats.from_arrays(s, y)
  named = m4_pool.named_report(m4_pool.cells_report(stats, np.array([0.5, 0.5]), eps_rep=0.1, eps_assoc=0.1),
                               ["f", "m"], ["doctor"])
  assert named["rows"] == 3 and named["representation"] == pytest.approx({"f": 2 / 3 - 0.5, "m": -0.5})
  assert named["demographic_parity_gap"]["m"]["doctor"] is None  # P(y | s_m = 1) has no rows
  assert named["demographic_parity_gap"]["f"]["doctor"] == pytest.approx(0.5 - 1.0)
  assert not any(isinstance(v, float) and math.isnan(v) for v in named["representation"].values())
