"""Duplicate clusters in Beam from hash batches: exact (sha256), near (LSH bands), caption reuse.

Groups are (band, partition) or (sha range) batches of ids and hashes, never image bytes;
a group's pairs become star edges, connected components (pipelines/select/components.py) join
them into clusters, and each cluster's canonical example is chosen by the rows' order.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from webpairs.curation import dedup
from webpairs.curation.rules import RuleBook
from webpairs.formats import files
from webpairs.pipelines.runtime import batches as batches_lib
from webpairs.pipelines.runtime import shuffle
from webpairs.pipelines.select import components
from webpairs.pipelines.select.select_files import CORNERS, WINDOWS  # end batches of window / corner hashes
from webpairs.pipelines.select.select_plan import ROW_BITS, ROW_MASK, FileState

STATS = "stats"


def _exact_group(item) -> Iterator:
  """Rows with the same sha256 -> edges (smallest id of a digest to the others)."""
  _, batches = item
  digests, ids = batches_lib.concat(batches, 2)
  pairs = dedup.exact_pairs(digests, ids)
  if len(pairs):
    yield pairs.a, pairs.b
  yield pvalue.TaggedOutput(STATS, {"exact_dup": {"links": len(pairs)}})


def _near_group(item, band_bits: int, threshold: int, window: int, window_threshold: int) -> Iterator:
  """Rows of one band's buckets -> edges between those within the threshold (as stars).

  Batches of whole-content hashes are (phash, dhash, ids), in window bands with dedup.windows
  (phash, dhash, ids, aspect codes); batches of window hashes are (phash, dhash, ids, aspect
  codes, WINDOWS). Content pairs follow the phash-and-dhash rule at `threshold`; with window
  batches, pairs of a content or window hash and another image's window hash at
  `window_threshold` whose images' content aspects are close (dedup.aspect_close). Groups of a corner's
  keys (dedup.corner_keys) hold (corner phash, corner dhash, ids, aspect codes, content dhash, CORNERS)
  batches of that corner only: dedup.corner_pairs.
  """
  (band, _), batches = item
  if band >= 2 * dedup.HASH_BITS // band_bits:  # a corner's keys (dedup.corner_keys): its batches only
    cp, cd, cids, casp, content_dhash = batches_lib.concat([b[:5] for b in batches if b[-1] == CORNERS], 5)
    pairs = dedup.corner_pairs(cp, cd, cids, casp, content_dhash, band_bits, window_threshold, window)
    a, b = dedup.star_edges(pairs.a, pairs.b)
    if len(a):
      yield a, b
    yield pvalue.TaggedOutput(STATS, {"near_dup": {"corner_links": len(pairs), "corner_compared": pairs.compared}})
    return
  full = [b for b in batches if not isinstance(b[-1], str)]
  wins = [b[:4] for b in batches if isinstance(b[-1], str) and b[-1] == WINDOWS]
  phash, dhash, ids = batches_lib.concat(full, 3)
  values = dedup.band_values(phash, dhash, band_bits, only=band)
  pairs = dedup.near_pairs(values, phash, dhash, ids, threshold, window, band_index=band, band_bits=band_bits)
  stats = {"links": len(pairs), "compared": pairs.compared, "capped_buckets": pairs.capped_buckets}
  a, b = pairs.a, pairs.b
  if wins:
    aspect = np.concatenate([np.zeros(0, np.int8)] + [
        b[3] if len(b) == 4 else np.full(len(b[0]), dedup.ASPECT_UNKNOWN, np.int8) for b in full])
    wp, wd, wids, wasp = batches_lib.concat(wins, 4)
    wv = dedup.band_values(wp, wd, band_bits, only=band)
    crop = dedup.window_pairs_in_chunks((values, phash, dhash, ids, aspect), (wv, wp, wd, wids, wasp),
                                        window_threshold, window, band_index=band, band_bits=band_bits)
    stats.update(window_links=len(crop), window_compared=crop.compared)
    a, b = np.concatenate([a, crop.a]), np.concatenate([b, crop.b])
  a, b = dedup.star_edges(a, b)
  if len(a):
    yield a, b
  yield pvalue.TaggedOutput(STATS, {"near_dup": stats})


def _caption_group(item, max_images: int) -> Iterator:
  """Rows of some caption hashes -> (file, rows) whose caption is on too many distinct images."""
  _, batches = item
  chash, image, ids = batches_lib.concat(batches, 3)
  found = dedup.caption_dups(chash, image, ids, max_images)
  if len(found.ids):
    for index, (rows,) in batches_lib.split(found.ids >> ROW_BITS, found.ids & ROW_MASK):
      yield index, rows
  yield pvalue.TaggedOutput(STATS, {"caption_dup": {"captions": found.captions}})


def _components_by_file(item: tuple[int, tuple[np.ndarray, np.ndarray]]) -> Iterator:
  """(partition, (nodes, components)) -> (file index, (rows, components)) per file."""
  _, (nodes, comps) = item
  for index, (rows, c) in batches_lib.split(nodes >> ROW_BITS, nodes & ROW_MASK, comps):
    yield index, (rows, c)


class _OrdersFn(beam.DoFn):
  """Per file: the order of every row that is in a duplicate cluster, sent to its component.

  Order = (rank, key, source, id, sha60): rank 0 for rows that pass the per-row rules,
  so a cluster's canonical example is its smallest (key, source) among those that pass,
  else among all; sha60 (a sha256 prefix) finds byte-identical members.
  """

  def __init__(self, rules: RuleBook, partitions: int):
    self._before = rules.before_dedup
    self._partitions = partitions

  def process(self, item):
    index, grouped = item
    batches = list(grouped["comps"])
    state: FileState = grouped["state"][0]
    if batches:
      rows, comps = batches_lib.concat(batches, 2)
      table = files.read_parquet_columns(state.path, ["key", "source", "sha256"])
      keys, sources, shas = (table.column(c).to_pylist() for c in ("key", "source", "sha256"))
      ranks = ((state.masks[rows] & self._before) != 0).astype(int).tolist()
      orders = np.empty(len(rows), dtype=object)
      for i, (r, rank) in enumerate(zip(rows.tolist(), ranks)):
        sha60 = int(shas[r][:15], 16) if shas[r] else -1
        orders[i] = (rank, keys[r], sources[r], (index << ROW_BITS) | r, sha60)
      for part, (c, o) in batches_lib.split(dedup.partition_of(comps.view(np.uint64), self._partitions), comps, orders):
        yield part, (c, o)


def _canonical(item, exact: bool) -> Iterator:
  """Per component partition: each member's canonical order and whether it is a byte copy.

  The canonical example is the smallest order of the component; a member is a copy
  (exact_dup) when a smaller member has the same bytes. Results go back per file.
  """
  _, batches = item
  members = sorted((int(c), o) for comps, orders in batches for c, o in zip(comps.tolist(), orders))
  out: dict[int, tuple[list, list, list]] = collections.defaultdict(lambda: ([], [], []))
  comp, label, seen = None, None, set()
  for c, order in members:
    if c != comp:
      comp, label, seen = c, order, set()
    sha60 = order[4]
    copy = exact and sha60 != -1 and sha60 in seen
    seen.add(sha60)
    rows, labels, copies = out[order[3] >> ROW_BITS]
    rows.append(order[3] & ROW_MASK)
    labels.append(label)
    copies.append(copy)
  yield from out.items()


class Duplicates(beam.PTransform):
  """Hash batches of the scan -> (clusters, caption_dups, stats).

  Input: {"state": (index, FileState), "sha": ((part), (digests, ids)), "band": ((band,
  part), (phash, dhash, ids[, aspect codes in window bands])) and, with dedup.windows,
  ((band, part), (window phash, window dhash, ids, aspect codes, WINDOWS)) and, with dedup.corners and
  format-7 files, ((corner key, part), (corner phash, corner dhash, ids, aspect codes, content dhash,
  CORNERS)), "caption": (part,
  (caption hashes, phash, ids))}; the inputs of disabled rules may be empty. clusters: (file index, (rows, canonical
  orders, is-byte-copy flags)) for rows in clusters of two or more; caption_dups: (file
  index, rows); stats: count dicts for the summary. `rounds`: the connected components'
  round budget (the job fails, writing nothing, if they have not converged by then).
  """

  def __init__(self, dedup_config: dict, rules: RuleBook, partitions: int, rounds: int):
    super().__init__()
    self._d = dedup_config
    self._rules = rules
    self._partitions = partitions
    self._rounds = rounds

  def expand(self, pcolls):
    d, p = self._d, pcolls["state"].pipeline
    edge_parts, stats = [], []
    if d["exact"]:
      exact = (pcolls["sha"] | "GroupSha" >> shuffle.GroupByKey()
               | "ExactPairs" >> beam.FlatMap(_exact_group).with_outputs(STATS, main="edges"))
      edge_parts.append(exact["edges"])
      stats.append(exact[STATS])
    if d["near"]:
      near = (pcolls["band"] | "GroupBands" >> shuffle.GroupByKey()
              | "NearPairs" >> beam.FlatMap(_near_group, int(d["band_bits"]), int(d["threshold"]),
                                           int(d["bucket_window"]), int(d["window_threshold"])
                                           ).with_outputs(STATS, main="edges"))
      edge_parts.append(near["edges"])
      stats.append(near[STATS])
    edges = (edge_parts or [p | "NoEdges" >> beam.Create([])]) | "Edges" >> beam.Flatten()
    comps, rounds = edges | "Components" >> components.ConnectedComponents(self._rounds, self._partitions)
    stats.append(rounds | "RoundStats" >> beam.Map(lambda r: {"components": r}))
    clusters = ({"state": pcolls["state"], "comps": comps | "CompsByFile" >> beam.FlatMap(_components_by_file)}
                | "JoinComps" >> shuffle.CoGroupByKey()
                | "Orders" >> beam.ParDo(_OrdersFn(self._rules, self._partitions))
                | "GroupComps" >> shuffle.GroupByKey()
                | "Canonical" >> beam.FlatMap(_canonical, bool(d["exact"])))
    if d["caption_max_images"]:
      caption = (pcolls["caption"] | "GroupCaptions" >> shuffle.GroupByKey()
                 | "CaptionDups" >> beam.FlatMap(_caption_group, int(d["caption_max_images"]))
                 .with_outputs(STATS, main="rows"))
      flagged = caption["rows"]
      stats.append(caption[STATS])
    else:
      flagged = p | "NoCaptionDups" >> beam.Create([])
    return clusters, flagged, stats | "Stats" >> beam.Flatten()
