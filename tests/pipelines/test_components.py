"""Connected components by batched label propagation in Beam, against union-find."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from webpairs.curation import components as cc
from webpairs.pipelines.components import ConnectedComponents


def _flat(item):
  _, (nodes, labels) = item
  return list(zip(nodes.tolist(), labels.tolist()))


def test_labels_equal_union_find_minimum():
  rng = np.random.default_rng(0)
  nodes = (rng.permutation(300) * 7 + (3 << 32)).astype(np.int64)
  a = list(nodes[:7]) + [nodes[30]] * 29 + list(rng.choice(nodes[60:], 80))  # a chain, a star, random
  b = list(nodes[1:8]) + list(nodes[31:60]) + list(rng.choice(nodes[60:], 80))
  a, b = np.array(a, np.int64), np.array(b, np.int64)
  used = np.unique(np.concatenate([a[a != b], b[a != b]]))
  expected = list(zip(used.tolist(), cc.union_find_labels(a, b, used).tolist()))
  batches = [(a[i:i + 40], b[i:i + 40]) for i in range(0, len(a), 40)]  # edges arrive in several batches
  with test_pipeline.TestPipeline() as p:
    labels, unconverged = p | beam.Create(batches) | ConnectedComponents(rounds=9, partitions=3)
    assert_that(labels | beam.FlatMap(_flat), equal_to(expected), label="labels")
    assert_that(unconverged, equal_to([0]), label="converged")


def test_too_few_rounds_are_reported():
  chain = (np.arange(12, dtype=np.int64)[:-1], np.arange(12, dtype=np.int64)[1:])
  with test_pipeline.TestPipeline() as p:
    _, unconverged = p | beam.Create([chain]) | ConnectedComponents(rounds=2, partitions=2)
    assert_that(unconverged | beam.Map(lambda n: n > 0), equal_to([True]))


def test_numpy_steps_converge_to_the_component_minimum():
  a = np.array([5, 6, 7, 20], np.int64)
  b = np.array([6, 7, 8, 21], np.int64)
  src, dst = cc.adjacency(*cc.directed(np.concatenate([a, a]), np.concatenate([b, b])))
  assert len(src) == 8  # repeated edges counted once
  nodes, labels = cc.initial_labels(src, dst)
  for _ in range(3):
    nodes, labels = cc.min_by_node(*cc.send(src, dst, nodes, labels))
  assert dict(zip(nodes.tolist(), labels.tolist())) == {5: 5, 6: 5, 7: 5, 8: 5, 20: 20, 21: 20}
