"""Plans curated shards from selection rows, moving metadata only (never image bytes).

Kept rows are grouped by key (to make keys unique), then by raw shard (to join that raw
shard's annotation file and number its first copies), and the resulting copies by output
shard. `curated_write.py` then writes each output shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from webpairs.formats import annotation_files, files
from webpairs.pipelines.materialize import layout
from webpairs.pipelines.runtime import shuffle

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.materialize"
FIRST = "first"  # tag of first copies: (output shard, copy)
REPEATS = "repeats"  # tag of repeats: ((source, offset), copy), joined later with the first copy's location
_ANNOTATION_COLUMNS = ["offset", "key", "caption", "url", "width", "height", "sha256", "regions", "image_format",
                       "extra"]

# Why a planned copy is not written (counted per shard and in the manifest).
SOURCE_NOT_IN_INPUT = "source_not_in_input"  # its raw shard is not among the inputs
MISSING_ANNOTATION = "missing_annotation"  # no annotation row at (source, offset)
MISSING_CAPTION = "missing_caption"  # the annotation row has no caption
KEY_MISMATCH = "key_mismatch"  # selection and annotation disagree on the key at (source, offset)
DUPLICATE_ROW = "duplicate_selection_row"  # the selection lists (source, offset) twice


def kept_rows(table) -> Iterator[dict[str, Any]]:
  """Kept rows of one selection row group (a pyarrow table), filtered before becoming dicts."""
  keep = pc.and_(pc.fill_null(table["keep"], False), pc.greater(pc.fill_null(table["repeat"], 0), 0))
  kept = table.filter(keep)
  usable = pc.and_(pc.is_valid(kept["source"]), pc.is_valid(kept["offset"]))
  unplaceable = len(kept) - pc.sum(usable.cast("int64")).as_py() if len(kept) else 0
  if unplaceable:
    # Not one of ours to write: without a source and offset no raw bytes can be found.
    log.warning("selection: %d kept rows without source or offset are skipped", unplaceable)
    Metrics.counter(METRICS_NAMESPACE, "kept_rows_without_source").inc(unplaceable)
  for row in kept.filter(usable).to_pylist():
    yield {"source": row["source"], "offset": row["offset"], "key": row["key"] or "", "repeat": row["repeat"],
           "cluster_id": row["cluster_id"], "lang": row["lang"]}


def unique_bases(element: tuple[str, Iterable[dict]]) -> Iterator[tuple[str, dict]]:
  """(safe key, kept rows sharing it) -> (source, row + `base`, its key unique over the output)."""
  base, rows = element
  rows = list(rows)
  bases = layout.assign_bases(base, [(r["source"], r["offset"]) for r in rows])
  for row in rows:
    yield row["source"], dict(row, base=bases[(row["source"], row["offset"])])


def _source_counts(element: tuple[str, dict]) -> tuple[str, tuple[int, int]]:
  source, row = element
  return source, (1, row["repeat"] - 1)


def _sum_pairs(pairs: Iterable[tuple[int, int]]) -> tuple[int, int]:
  firsts, repeats = 0, 0
  for f, r in pairs:
    firsts += f
    repeats += r
  return firsts, repeats


def shard_layout(counts: list[tuple[str, tuple[int, int]]], shard_size: int) -> dict[str, Any]:
  """Start index of each raw shard's first copies, and how many output shards of each kind."""
  starts = layout.start_indices((source, firsts) for source, (firsts, _) in counts)
  firsts = sum(f for _, (f, _) in counts)
  repeats = sum(r for _, (_, r) in counts)
  first_shards, repeat_shards = layout.shard_counts(firsts, repeats, shard_size)
  return {"starts": starts, "first_shards": first_shards, "repeat_shards": repeat_shards}


class _PlanSourceFn(beam.DoFn):
  """(raw shard, its kept rows) -> planned copies: first copies to FIRST, repeats to REPEATS.

  Captions, urls, sizes and hashes come from the raw shard's annotation file: one file
  read per raw shard, not a shuffle.
  """

  def __init__(self, annotations_dir: str, shard_size: int, inputs: list[str]):
    self._annotations_dir = annotations_dir
    self._shard_size = shard_size
    self._inputs = frozenset(inputs)
    self._errors = Metrics.counter(METRICS_NAMESPACE, "plan_errors")

  def _annotations(self, source: str) -> dict[int, dict]:
    path = annotation_files.annotation_path(self._annotations_dir, source)
    try:
      # Annotation files before format 3 have no `regions`, before 4 no `extra`: their copies get none.
      have = set(files.read_parquet_metadata(path).schema.to_arrow_schema().names)
      table = files.read_parquet_columns(path, [c for c in _ANNOTATION_COLUMNS if c in have])
    except Exception as e:  # pylint: disable=broad-except
      log.warning("%s: no readable annotation file %s (%s); its copies are not written", source, path, e)
      return {}
    return {row["offset"]: row for row in table.to_pylist()}

  def _error(self, source: str, row: dict, ann: dict | None) -> str | None:
    if source not in self._inputs:
      return SOURCE_NOT_IN_INPUT
    if ann is None:
      return MISSING_ANNOTATION
    if ann["key"] != row["key"]:
      return KEY_MISMATCH
    if ann["caption"] is None:
      return MISSING_CAPTION
    return None

  def process(self, element: tuple[str, Iterable[dict]], plan: dict[str, Any]) -> Iterator[Any]:
    source, rows = element
    # A total order, so that which of two rows for one example counts does not depend on the runner.
    rows = sorted(rows, key=lambda r: (r["offset"], r["key"], r["repeat"], r["cluster_id"] or "", r["lang"] or ""))
    annotations = self._annotations(source) if source in self._inputs else {}
    index = plan["starts"][source]
    seen: set[int] = set()
    for row in rows:
      ann = annotations.get(row["offset"])
      error = DUPLICATE_ROW if row["offset"] in seen else self._error(source, row, ann)
      seen.add(row["offset"])
      ann = ann or {}
      for copy in range(row["repeat"]):
        planned = {
            "key": layout.copy_key(row["base"], copy),
            "source": source,
            "offset": row["offset"],
            "source_key": row["key"],
            "copy": copy,
            "repeat": row["repeat"],
            "cluster_id": row["cluster_id"],
            "lang": row["lang"],
            "caption": ann.get("caption"),
            "url": ann.get("url"),
            "width": ann.get("width"),
            "height": ann.get("height"),
            "sha256": ann.get("sha256"),
            "regions": ann.get("regions"),
            "image_format": ann.get("image_format"),  # detected by annotate: names the curated member
            "extra": ann.get("extra"),
            "error": error,
        }
        if error:
          self._errors.inc()
        if copy == 0:
          planned["order"] = index
          yield index // self._shard_size, planned
          index += 1
        else:
          planned["order"] = layout.spread_hash(source, row["offset"], copy)
          planned["shard"] = layout.repeat_shard(planned["order"], plan["first_shards"], plan["repeat_shards"])
          yield beam.pvalue.TaggedOutput(REPEATS, ((source, row["offset"]), planned))


class PlanCuratedShards(beam.PTransform):
  """Selection row groups (pyarrow tables) -> {FIRST: (output shard, [first copies]),
  REPEATS: ((source, offset), repeat copy)}."""

  def __init__(self, annotations_dir: str, shard_size: int, inputs: list[str]):
    super().__init__()
    if shard_size <= 0:
      raise ValueError(f"shard_size must be positive, got {shard_size}")
    self._shard_size = shard_size
    self._fn = _PlanSourceFn(annotations_dir, shard_size, inputs)

  def expand(self, tables):
    kept = (tables
            | "KeptRows" >> beam.FlatMap(kept_rows)
            | "BySafeKey" >> beam.Map(lambda r: (layout.safe_key(r["key"]), r))
            | "GroupBySafeKey" >> shuffle.GroupByKey()
            | "UniqueKeys" >> beam.FlatMap(unique_bases))
    plan = (kept
            | "CountCopies" >> beam.Map(_source_counts)
            | "CopiesPerSource" >> beam.CombinePerKey(_sum_pairs)
            | "AllSources" >> beam.combiners.ToList()
            | "ShardLayout" >> beam.Map(shard_layout, self._shard_size))
    planned = (kept
               | "GroupBySource" >> shuffle.GroupByKey()
               | "PlanSource" >> beam.ParDo(self._fn, plan=beam.pvalue.AsSingleton(plan)).with_outputs(
                   REPEATS, main=FIRST))
    first = planned[FIRST] | "GroupFirstByShard" >> shuffle.GroupByKey()
    return {FIRST: first, REPEATS: planned[REPEATS]}


def plan_fingerprint(copies: list[dict], settings: dict[str, Any]) -> str:
  """Hash of everything a shard's bytes depend on: its planned copies and the write settings."""
  blob = json.dumps({"copies": copies, "settings": settings}, sort_keys=True, ensure_ascii=False)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]
