"""Connected components by alternating large-star / small-star (Kiveris et al. 2014), as numpy steps.

Nodes are int64 ids, edges undirected pairs (lo, hi) with lo < hi. Both operations keep
every component's node set and never add edges; alternated, they turn each component
into a star around its smallest id in O(log n) rounds in practice (O(log^2 n) proven).
`pipelines/select/components.py` runs them in Beam, one partition of nodes per group.
"""

from __future__ import annotations

import math

import numpy as np

from webpairs.curation import dedup


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
  return dedup.partition_of(np.asarray(nodes, np.int64).view(np.uint64), partitions)


def round_budget(max_nodes: int) -> int:
  """Rounds allowed for a graph of at most `max_nodes` nodes: log2(n) + 4.

  Measured: a path needs about log2(n) + 1 rounds with sorted ids (17 at 1e5), fewer
  with shuffled ones (13); trees, cycles and stars fewer. The bound proven is O(log^2 n),
  so a graph may need more: `select` then reruns with twice the budget, never writing
  a selection from unconverged labels.
  """
  return math.ceil(math.log2(max(2, max_nodes))) + 4


def edges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Distinct undirected edges (lo, hi), lo < hi, sorted; self-loops dropped, repeats counted once."""
  a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
  lo, hi = np.minimum(a, b), np.maximum(a, b)
  keep = lo != hi
  if not keep.any():
    return lo[:0], hi[:0]
  pairs = np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0)
  return pairs[:, 0].copy(), pairs[:, 1].copy()


def _groups(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Distinct (key, value) pairs sorted: (keys, values, distinct keys, each key's group size).

  Several partitions may send the same edge; it counts once.
  """
  pairs = np.unique(np.stack([keys, values], axis=1).reshape(-1, 2), axis=0)
  keys, values = pairs[:, 0].copy(), pairs[:, 1].copy()
  starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else keys[:0]
  return keys, values, keys[starts], np.diff(np.append(starts, len(keys)))


def directed(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Both directions of the undirected edges: every node's whole neighbourhood, keyed by node."""
  return np.concatenate([lo, hi]), np.concatenate([hi, lo])


def _neighbourhoods(src: np.ndarray, dst: np.ndarray):
  """Directed edges -> (src, dst sorted; nodes, their degree, m = min(node, neighbours), unsettled).

  A node is unsettled when it has a smaller neighbour and another one; with none in the
  whole graph every component is a star around its smallest id.
  """
  src, dst, nodes, sizes = _groups(np.asarray(src, np.int64), np.asarray(dst, np.int64))
  smallest = dst[np.cumsum(sizes) - sizes]
  unsettled = int(((smallest < nodes) & (sizes > 1)).sum())
  return src, dst, nodes, sizes, np.minimum(nodes, smallest), unsettled


def large_star(src: np.ndarray, dst: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], int]:
  """Large-star on whole neighbourhoods (directed edges src -> dst, every edge of each src).

  Every neighbour larger than node u is linked to m(u), the smallest of u and its
  neighbours. Returns (the new undirected edges, unsettled nodes of the input).
  """
  src, dst, _, sizes, m, unsettled = _neighbourhoods(src, dst)
  m = np.repeat(m, sizes)
  larger = dst > src
  return edges(dst[larger], m[larger]), unsettled


def small_star(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Small-star on the edges keyed by their larger end (all of each `hi`'s smaller neighbours).

  Node u and its smaller neighbours are all linked to the smallest of them.
  """
  hi, lo, nodes, sizes = _groups(np.asarray(hi, np.int64), np.asarray(lo, np.int64))
  smallest = lo[np.cumsum(sizes) - sizes]
  return edges(np.concatenate([lo, nodes]), np.concatenate([np.repeat(smallest, sizes), smallest]))


def labels(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
  """(nodes, min(node, its neighbours), unsettled nodes) from whole neighbourhoods.

  With no unsettled node in the whole graph these are the components' smallest ids.
  """
  _, _, nodes, _, m, unsettled = _neighbourhoods(src, dst)
  return nodes, m, unsettled


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
