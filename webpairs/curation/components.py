"""Connected components by min-label propagation, as numpy steps on one partition of the graph.

Nodes are int64 ids; a node's label converges to the smallest id of its component.
`pipelines/components.py` runs the steps in Beam: adjacency and labels are partitioned
by node, every round sends each node's label along its edges and keeps the minimum.
"""

from __future__ import annotations

import numpy as np

from webpairs.curation import dedup


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
  return dedup.partition_of(np.asarray(nodes, np.int64).view(np.uint64), partitions)


def directed(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Both directions of the undirected edges (a[i], b[i]), self-loops dropped."""
  a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
  keep = a != b
  a, b = a[keep], b[keep]
  return np.concatenate([a, b]), np.concatenate([b, a])


def adjacency(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Distinct directed edges sorted by (src, dst): the same pair found by several bands counts once."""
  pairs = np.unique(np.stack([np.asarray(src, np.int64), np.asarray(dst, np.int64)], axis=1), axis=0)
  return pairs[:, 0].copy(), pairs[:, 1].copy()


def min_by_node(targets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(sorted distinct targets, the smallest value sent to each)."""
  targets, values = np.asarray(targets, np.int64), np.asarray(values, np.int64)
  if not len(targets):
    return targets, values
  order = np.lexsort((values, targets))
  targets, values = targets[order], values[order]
  first = np.ones(len(targets), dtype=bool)
  first[1:] = targets[1:] != targets[:-1]
  return targets[first], values[first]


def initial_labels(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Labels after the first round, straight from the adjacency: min(node, its neighbours)."""
  return min_by_node(np.concatenate([src, src]), np.concatenate([src, dst]))


def send(src: np.ndarray, dst: np.ndarray, nodes: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Messages (target, label) of one round: every node's label to itself and its neighbours.

  `nodes` (sorted) must hold every `src`: adjacency and labels share the partitioning.
  """
  lab = labels[np.searchsorted(nodes, src)]
  return np.concatenate([nodes, dst]), np.concatenate([labels, lab])


def union_find_labels(a: np.ndarray, b: np.ndarray, nodes: np.ndarray) -> np.ndarray:
  """Reference: for each of `nodes`, the smallest node of its component (plain union-find)."""
  nodes = np.asarray(nodes, np.int64)
  index = {int(v): i for i, v in enumerate(nodes)}
  parent = list(range(len(nodes)))

  def find(x: int) -> int:
    while parent[x] != x:
      parent[x] = parent[parent[x]]
      x = parent[x]
    return x

  for u, v in zip(np.asarray(a).tolist(), np.asarray(b).tolist()):
    ru, rv = find(index[u]), find(index[v])
    if ru != rv:
      parent[max(ru, rv)] = min(ru, rv)
  smallest: dict[int, int] = {}
  for i, v in enumerate(nodes.tolist()):
    r = find(i)
    smallest[r] = min(smallest.get(r, v), v)
  return np.array([smallest[find(i)] for i in range(len(nodes))], dtype=np.int64)
