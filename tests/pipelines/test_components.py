"""Connected components by large-star / small-star rounds in Beam, against union-find."""

from __future__ import annotations

import json
import math
import pathlib
import tempfile

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from webpairs.curation import components as cc
from webpairs.pipelines.select.components import NOT_CONVERGED, ConnectedComponents

ROUNDS_PER_LOG2 = 1.5  # rounds used <= this * log2(nodes) + 1 on every graph here


def _ids(n: int, seed: int) -> np.ndarray:
  """n shuffled, spread-out node ids (ids say nothing about the graph's shape)."""
  return (np.random.default_rng(seed).permutation(n) * 7 + (3 << 32)).astype(np.int64)


def _graph(name: str) -> tuple[np.ndarray, np.ndarray]:
  if name == "path_10000":
    ids = _ids(10_000, 1)
    return ids[:-1], ids[1:]
  if name == "sorted_path_3000":  # min-label propagation would need 2,999 rounds
    ids = np.arange(3000, dtype=np.int64)
    return ids[:-1], ids[1:]
  if name == "star_500":
    ids = _ids(500, 2)
    return np.full(499, ids[250]), np.delete(ids, 250)
  if name == "binary_tree_4095":
    ids = _ids(4095, 3)
    child = np.arange(1, 4095)
    return ids[child], ids[(child - 1) // 2]
  if name == "cycle_1000":
    ids = _ids(1000, 4)
    return ids, np.roll(ids, 1)
  if name == "pairs_2000":
    ids = _ids(4000, 5)
    return ids[0::2], ids[1::2]
  raise KeyError(name)


def _expected(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
  keep = a != b
  used = np.unique(np.concatenate([a[keep], b[keep]]))
  return list(zip(used.tolist(), cc.union_find_labels(a[keep], b[keep], used).tolist()))


def _flat(item):
  _, (nodes, labels) = item
  return list(zip(nodes.tolist(), labels.tolist()))


def _run(a: np.ndarray, b: np.ndarray, tmp: pathlib.Path, rounds: int, partitions: int = 3,
         strict: bool = True) -> dict:
  """Runs the transform (edges in batches of 700), checks labels against union-find, returns its stats."""
  batches = [(a[i:i + 700], b[i:i + 700]) for i in range(0, len(a), 700)]
  out = tmp / "stats.json"
  with test_pipeline.TestPipeline() as p:
    labels, stats = p | beam.Create(batches) | ConnectedComponents(rounds, partitions, strict)
    if strict:
      assert_that(labels | beam.FlatMap(_flat), equal_to(_expected(a, b)), label="labels")
    _ = stats | beam.Map(lambda s: out.write_text(json.dumps(s)))
  return json.loads(out.read_text())


def _local_rounds(a: np.ndarray, b: np.ndarray) -> tuple[int, dict]:
  """The same steps on one partition, run until settled: (rounds, labels)."""
  lo, hi = cc.edges(a, b)
  rounds = 0
  while True:
    (lo, hi), unsettled = cc.large_star(*cc.directed(lo, hi))
    if not unsettled:
      nodes, labels, _ = cc.labels(*cc.directed(lo, hi))
      return rounds, dict(zip(nodes.tolist(), labels.tolist()))
    lo, hi = cc.small_star(lo, hi)
    rounds += 1


GRAPHS = ["path_10000", "sorted_path_3000", "star_500", "binary_tree_4095", "cycle_1000", "pairs_2000"]


@pytest.mark.parametrize("name", GRAPHS)
def test_rounds_grow_as_log_n(name):
  a, b = _graph(name)
  rounds, labels = _local_rounds(a, b)
  n = len(labels)
  bound = ROUNDS_PER_LOG2 * math.log2(n) + 1
  print(f"{name}: {n} nodes, {rounds} rounds (<= 1.5*log2(n) + 1 = {bound:.1f}; budget {cc.round_budget(n)})")
  assert sorted(labels.items()) == _expected(a, b)
  assert rounds <= min(bound, cc.round_budget(n))


def test_beam_labels_equal_union_find(tmp_path):
  """All the graphs above as one graph (disjoint ids), edges in batches over 3 partitions."""
  parts = [_graph(name) for name in GRAPHS]
  offsets = np.cumsum([0] + [len(a) for a, _ in parts]) << 20
  a = np.concatenate([pa + o for (pa, _), o in zip(parts, offsets)])
  b = np.concatenate([pb + o for (_, pb), o in zip(parts, offsets)])
  n = len(np.unique(np.concatenate([a, b])))
  stats = _run(a, b, tmp_path, cc.round_budget(n))
  print(f"{len(GRAPHS)} graphs, {n} nodes: {stats['rounds']} rounds in Beam, budget {stats['round_budget']}")
  assert stats["unconverged_nodes"] == 0
  assert stats["rounds"] == max(_local_rounds(*g)[0] for g in parts)  # partitions change nothing


def test_too_few_rounds_fail_and_are_counted(tmp_path):
  ids = _ids(200, 6)
  stats = _run(ids[:-1], ids[1:], tmp_path, rounds=2, strict=False)
  assert stats["round_budget"] == 2 and stats["rounds"] == 2 and stats["unconverged_nodes"] > 0
  with pytest.raises(Exception, match=NOT_CONVERGED):
    _run(ids[:-1], ids[1:], tmp_path, rounds=2)


def test_no_edges(tmp_path):
  assert _run(np.zeros(0, np.int64), np.zeros(0, np.int64), tmp_path, rounds=3) == {
      "rounds": 0, "round_budget": 3, "unconverged_nodes": 0}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                                                     max_size=3 * n)),
       st.integers(0, 2**31))
def test_random_graphs_equal_union_find(edge_list, seed):
  a = np.array([e[0] for e in edge_list], np.int64)
  b = np.array([e[1] for e in edge_list], np.int64)
  ids = _ids(64, seed % 1000)  # shuffled ids: the rounds must not depend on a lucky order
  a, b = ids[a], ids[b]
  rounds, labels = _local_rounds(a, b)
  assert sorted(labels.items()) == _expected(a, b)
  n = max(2, len(labels))
  assert rounds <= ROUNDS_PER_LOG2 * math.log2(n) + 1


@settings(max_examples=3, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), min_size=1, max_size=60))
def test_random_graphs_in_beam(edge_list):
  a = np.array([e[0] for e in edge_list], np.int64) * 11 + 5
  b = np.array([e[1] for e in edge_list], np.int64) * 11 + 5
  rounds, _ = _local_rounds(a, b)
  with tempfile.TemporaryDirectory() as tmp:  # hypothesis examples share no pytest tmp_path
    assert _run(a, b, pathlib.Path(tmp), cc.round_budget(30))["rounds"] == rounds


def _components_bytes(a: np.ndarray, b: np.ndarray, rounds: int, tmp: pathlib.Path) -> tuple[int, dict]:
  """(bytes the rounds shuffled, stats) of one run."""
  from webpairs.pipelines.runtime import shuffle  # pylint: disable=import-outside-toplevel
  out = tmp / f"stats{rounds}.json"
  p = test_pipeline.TestPipeline()
  labels, stats = p | beam.Create([(a, b)]) | ConnectedComponents(rounds, 3)
  assert_that(labels | beam.FlatMap(_flat), equal_to(_expected(a, b)), label="labels")
  _ = stats | beam.Map(lambda s: out.write_text(json.dumps(s)))
  result = p.run()
  result.wait_until_finish()
  return shuffle.shuffle_bytes(result)["Components"], json.loads(out.read_text())


def test_rounds_after_convergence_shuffle_nothing(tmp_path):
  a, b = _graph("binary_tree_4095")
  used, _ = _local_rounds(a, b)
  tight, stats = _components_bytes(a, b, used + 1, tmp_path)
  loose, loose_stats = _components_bytes(a, b, used + 4, tmp_path)
  assert stats["rounds"] == loose_stats["rounds"] == used and loose_stats["unconverged_nodes"] == 0
  assert loose == tight > 0  # 3 more rounds in the graph, not one more byte through them
