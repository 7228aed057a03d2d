"""Connected components in Beam: bounded rounds of min-label propagation on node partitions.

Nodes are int64 ids, partitioned by a hash of the id; adjacency and labels of a
partition travel as numpy arrays, so a round costs a few elements per partition, not
one per edge, and no step holds more than one partition. Each round every node sends
its label to itself and its neighbours and keeps the smallest it hears; after `rounds`
rounds every node holds the smallest id within `rounds` hops, and one more round counts
the nodes that would still change, so an unconverged graph is reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import apache_beam as beam
import numpy as np

from webpairs.curation import components as cc
from webpairs.pipelines import batches as batches_lib

Arrays = tuple[np.ndarray, np.ndarray]


def _concat(batches: Iterable[Arrays]) -> Arrays:
  return batches_lib.concat(batches, 2)


def _by_partition(first: np.ndarray, second: np.ndarray, partitions: int) -> Iterator[tuple[int, Arrays]]:
  yield from batches_lib.split(cc.partition_of(first, partitions), first, second)


def _directed(edges: Arrays, partitions: int) -> Iterator[tuple[int, Arrays]]:
  yield from _by_partition(*cc.directed(*edges), partitions)


def _adjacency(item: tuple[int, Iterable[Arrays]]) -> tuple[int, Arrays]:
  part, batches = item
  return part, cc.adjacency(*_concat(batches))


def _initial(item: tuple[int, Arrays]) -> tuple[int, Arrays]:
  part, (src, dst) = item
  return part, cc.initial_labels(src, dst)


def _send(item: tuple[int, dict], partitions: int) -> Iterator[tuple[int, Arrays]]:
  _, grouped = item
  (src, dst), = grouped["adj"]
  (nodes, labels), = grouped["label"]
  yield from _by_partition(*cc.send(src, dst, nodes, labels), partitions)


def _keep_min(item: tuple[int, Iterable[Arrays]]) -> tuple[int, Arrays]:
  part, batches = item
  return part, cc.min_by_node(*_concat(batches))


def _changed(item: tuple[int, dict]) -> int:
  _, grouped = item
  (nodes, before), = grouped["before"]
  (nodes_after, after), = grouped["after"]
  assert np.array_equal(nodes, nodes_after)
  return int((before != after).sum())


class ConnectedComponents(beam.PTransform):
  """PCollection of edge batches (a, b) (int64 arrays) -> (labels, unconverged).

  labels: (partition, (nodes, labels)) batches, every node of an edge once, its label
  the smallest node id of its component. unconverged: a singleton PCollection, the
  number of nodes whose label would still change after `rounds` rounds.
  """

  def __init__(self, rounds: int, partitions: int):
    super().__init__()
    if rounds < 1 or partitions < 1:
      raise ValueError(f"rounds and partitions must be >= 1, got {rounds}, {partitions}")
    self._rounds = rounds
    self._partitions = partitions

  def _round(self, name: str, labels, adjacency):
    return ({"adj": adjacency, "label": labels}
            | f"Join{name}" >> beam.CoGroupByKey()
            | f"Send{name}" >> beam.FlatMap(_send, self._partitions)
            | f"Group{name}" >> beam.GroupByKey()
            | f"Min{name}" >> beam.Map(_keep_min))

  def expand(self, edges):
    adjacency = (edges
                 | "Directed" >> beam.FlatMap(_directed, self._partitions)
                 | "GroupAdjacency" >> beam.GroupByKey()
                 | "Adjacency" >> beam.Map(_adjacency))
    labels = adjacency | "Round0" >> beam.Map(_initial)  # the first round needs no labels yet
    for r in range(1, self._rounds):
      labels = self._round(str(r), labels, adjacency)
    final = self._round("Check", labels, adjacency)
    unconverged = ({"before": labels, "after": final}
                   | "JoinBeforeAfter" >> beam.CoGroupByKey()
                   | "Changed" >> beam.Map(_changed)
                   | "CountChanged" >> beam.CombineGlobally(sum))
    return final, unconverged
