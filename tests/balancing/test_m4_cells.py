"""Cell statistics: exact collapse, order-free merging, JSON, utility buckets."""

import numpy as np

from tests.balancing import synth
from webpairs.balancing import m4


def test_cells_count_every_row_and_rebuild_the_moments():
  s, y = synth.overlapping(7_000, c=4, seed=0)
  stats = m4.CellStats.from_arrays(s, y)
  cs, cy, cu, count = stats.arrays()
  assert stats.n == 7_000 and count.sum() == 7_000 and stats.n_cells == len(count) <= 64
  np.testing.assert_array_equal(cu, 1.0)
  # The count-weighted cells carry the same bias statistics as the rows.
  rows = m4.bias_report(s, y, None, (0.3, 0.3))
  cells = m4.bias_report(cs, cy, count.astype(float), (0.3, 0.3))
  for key in ("representation", "association", "demographic_parity_gap"):
    np.testing.assert_allclose(cells[key], rows[key], atol=1e-12)


def test_merge_is_exact_and_order_free():
  s, y = synth.biased(9_000, c=3, seed=2)
  u = np.random.default_rng(1).uniform(0, 2, len(s))
  whole = m4.CellStats.from_arrays(s, y, u)
  parts = [m4.CellStats.from_arrays(s[i::3], y[i::3], u[i::3]) for i in range(3)]
  merged_a = parts[0].merge(parts[1], parts[2])
  merged_b = parts[2].merge(parts[0]).merge(parts[1])
  assert merged_a.cells == whole.cells == merged_b.cells  # integer sums: bit-identical
  back = m4.CellStats.from_json(merged_a.to_json())
  assert back.cells == whole.cells and back.u_step == whole.u_step


def test_utility_buckets_use_the_cell_mean():
  s = np.array([[1, 0]] * 4, np.uint8)
  y = np.array([[1]] * 4, np.uint8)
  u = np.array([0.101, 0.109, 0.5, 0.51])
  cs, cy, cu, count = m4.CellStats.from_arrays(s, y, u, u_step=0.1).arrays()
  np.testing.assert_array_equal(count, [2, 2])
  np.testing.assert_allclose(cu, [0.105, 0.505], atol=1e-7)


def test_many_concepts_pack_into_keys():
  rng = np.random.default_rng(0)
  s = rng.integers(0, 2, (500, 3))
  y = (rng.random((500, 100)) < 0.02).astype(np.uint8)
  cs, cy, _, count = m4.CellStats.from_arrays(s, y).arrays()
  rows = {(tuple(a), tuple(b)) for a, b in zip(s, y)}
  assert {(tuple(a), tuple(b)) for a, b in zip(cs, cy)} == rows and count.sum() == 500
