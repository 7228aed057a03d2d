"""Connected components in Beam: alternating large-star / small-star rounds, checked for convergence.

Nodes are int64 ids, partitioned by a hash of the id; the edges of a partition travel as
numpy arrays, so a round costs a few elements per partition, not one per edge, and no
step holds more than one partition. Each round is two shuffles (large-star groups whole
neighbourhoods by node, small-star groups edges by their larger end, curation/components.py).
Beam graphs are fixed before they run, so the rounds are unrolled up to a budget; every
large-star counts the nodes not yet settled, the first round that finds none is the
number of rounds used, and labels of a graph that has not converged never leave the
transform (strict mode raises instead). Once a round finds none, the edges skip the
rounds left (they would come back unchanged), so those rounds shuffle nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from webpairs.curation import components as cc
from webpairs.pipelines.runtime import batches as batches_lib
from webpairs.pipelines.runtime import shuffle

log = logging.getLogger(__name__)

Arrays = tuple[np.ndarray, np.ndarray]
UNSETTLED = "unsettled"
SETTLED = "settled"
NOT_CONVERGED = "connected components did not converge"
SHUFFLE = "Components"  # the shuffle counter of all rounds


class NotConvergedError(RuntimeError):
  """The round budget ran out before every component became a star around its smallest id."""


def _concat(batches: Iterable[Arrays]) -> Arrays:
  return batches_lib.concat(batches, 2)


def _by_node(batch: Arrays, partitions: int) -> Iterator[tuple[int, Arrays]]:
  """Undirected edges -> both directions, keyed by the partition of their first node."""
  src, dst = cc.directed(*cc.edges(*batch))
  yield from batches_lib.split(cc.partition_of(src, partitions), src, dst)


def _by_larger(batch: Arrays, partitions: int) -> Iterator[tuple[int, Arrays]]:
  lo, hi = batch
  yield from batches_lib.split(cc.partition_of(hi, partitions), lo, hi)


def _large_star(item: tuple[int, Iterable[Arrays]], round_: int) -> Iterator:
  _, batches = item
  (lo, hi), unsettled = cc.large_star(*_concat(batches))
  if len(lo):
    yield lo, hi
  yield pvalue.TaggedOutput(UNSETTLED, (round_, unsettled))


def _small_star(item: tuple[int, Iterable[Arrays]]) -> Iterator[Arrays]:
  _, batches = item
  lo, hi = cc.small_star(*_concat(batches))
  if len(lo):
    yield lo, hi


def _route(batch: Arrays, unsettled_before: Iterable[tuple[int, int]]) -> Iterator:
  """Edges after a round: on through the next rounds, or (SETTLED) straight to the labels once the round's
  input had no unsettled node (`unsettled_before`: its large-star's (round, count) per partition). A
  converged graph's rounds give back their input, so the rounds left would only shuffle every edge
  again (at 1e7 rows 6-7 of 28 budgeted rounds are used)."""
  yield batch if any(n for _, n in unsettled_before) else pvalue.TaggedOutput(SETTLED, batch)


def _labels(item: tuple[int, Iterable[Arrays]], round_: int) -> Iterator:
  part, batches = item
  nodes, labels, unsettled = cc.labels(*_concat(batches))
  yield part, (nodes, labels)
  yield pvalue.TaggedOutput(UNSETTLED, (round_, unsettled))


class _SumByRound(beam.CombineFn):
  """(round, unsettled nodes of a partition) -> {round: unsettled nodes}."""

  def create_accumulator(self) -> dict:
    return {}

  def add_input(self, acc: dict, item: tuple[int, int]) -> dict:
    acc[item[0]] = acc.get(item[0], 0) + item[1]
    return acc

  def merge_accumulators(self, accs: Iterable[dict]) -> dict:
    merged: dict = {}
    for acc in accs:
      for k, v in acc.items():
        merged[k] = merged.get(k, 0) + v
    return merged

  def extract_output(self, acc: dict) -> dict:
    return acc


def _stats(unsettled: dict, budget: int) -> dict:
  """Rounds used = the first round whose input had no unsettled node (a graph without edges: 0)."""
  left = unsettled.get(budget, 0)
  used = min((r for r in range(budget + 1) if unsettled.get(r, 0) == 0), default=budget + 1)
  log.info("connected components: %d of %d rounds used, %d unsettled nodes left", min(used, budget), budget, left)
  return {"rounds": min(used, budget), "round_budget": budget, "unconverged_nodes": left}


def _check(item, stats: dict):
  if stats["unconverged_nodes"]:
    raise NotConvergedError(f"{NOT_CONVERGED} in {stats['round_budget']} rounds ({stats['unconverged_nodes']} "
                            f"nodes unsettled); raise dedup.max_rounds (0: automatic)")
  return item


class ConnectedComponents(beam.PTransform):
  """PCollection of edge batches (a, b) (int64 arrays) -> (labels, stats).

  labels: (partition, (nodes, labels)) batches, every node of an edge once, its label
  the smallest node id of its component. stats: a singleton dict, rounds (used),
  round_budget and unconverged_nodes (left unsettled after the budget). `strict`: a
  graph that has not converged raises NotConvergedError before any label is emitted.
  """

  def __init__(self, rounds: int, partitions: int, strict: bool = True):
    super().__init__()
    if rounds < 1 or partitions < 1:
      raise ValueError(f"rounds and partitions must be >= 1, got {rounds}, {partitions}")
    self._rounds = rounds
    self._partitions = partitions
    self._strict = strict

  def expand(self, edges):
    p, counts, settled = self._partitions, [], []
    for r in range(self._rounds):
      if r:  # a round whose input had no unsettled node changed nothing: its output skips the rest
        routed = edges | f"Route{r}" >> beam.FlatMap(_route, beam.pvalue.AsIter(counts[-1])).with_outputs(
            SETTLED, main="edges")
        settled.append(routed[SETTLED])
        edges = routed["edges"]
      large = (edges | f"ByNode{r}" >> beam.FlatMap(_by_node, p)
               | f"GroupNode{r}" >> shuffle.GroupByKey(SHUFFLE)
               | f"LargeStar{r}" >> beam.FlatMap(_large_star, r).with_outputs(UNSETTLED, main="edges"))
      counts.append(large[UNSETTLED])
      edges = (large["edges"] | f"ByLarger{r}" >> beam.FlatMap(_by_larger, p)
               | f"GroupLarger{r}" >> shuffle.GroupByKey(SHUFFLE)
               | f"SmallStar{r}" >> beam.FlatMap(_small_star))
    if settled:
      edges = [edges] + settled | "AllEdges" >> beam.Flatten()
    final = (edges | "ByNodeLabels" >> beam.FlatMap(_by_node, p)
             | "GroupNodeLabels" >> shuffle.GroupByKey(SHUFFLE)
             | "Labels" >> beam.FlatMap(_labels, self._rounds).with_outputs(UNSETTLED, main="labels"))
    counts.append(final[UNSETTLED])
    stats = (counts | "AllUnsettled" >> beam.Flatten()
             | "SumUnsettled" >> beam.CombineGlobally(_SumByRound())
             | "RoundStats" >> beam.Map(_stats, self._rounds))
    labels = final["labels"]
    if self._strict:
      labels = labels | "Converged" >> beam.Map(_check, beam.pvalue.AsSingleton(stats))
    return labels, stats
