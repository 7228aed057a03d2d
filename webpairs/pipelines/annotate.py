"""The `annotate` job: one parquet row per input example (kept and rejected), no image bytes.

Work is split by shard: each shard is read, annotated in batches and written as one
annotation file by the same worker, so image bytes never cross a shuffle and a rerun
skips shards whose annotation file is already complete.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from webpairs.curation.annotate import AnnotateConfig, annotate_batch, default_annotator
from webpairs.curation.example import RawExample
from webpairs.curation.lid import LanguageIdentifier
from webpairs.curation.schema import ANNOTATION_SCHEMA
from webpairs.pipelines import files, options, progress, readers

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.annotate"
SUMMARY_FILE = "summary.json"
ANNOTATION_PREFIX = "annotations-"
FORMAT_VERSION = 2  # 2: attr_s / concept_y balancing indicators


def annotation_path(output_dir: str, shard_path: str) -> str:
  """Deterministic annotation file of a shard: its stem plus a hash of its full path."""
  stem = posixpath.basename(shard_path).split(".")[0]
  digest = hashlib.blake2b(shard_path.encode("utf-8"), digest_size=4).hexdigest()
  return FileSystems.join(output_dir, f"{ANNOTATION_PREFIX}{stem}-{digest}.parquet")


def indicators_info() -> dict:
  """The indicator annotator's names and lexicon version, as recorded in files and the summary."""
  return default_annotator().describe()


def config_fingerprint(config: AnnotateConfig, indicators: dict | None = None) -> str:
  """Files made with another config, format or lexicon are annotated again on resume."""
  indicators = indicators_info() if indicators is None else indicators
  blob = json.dumps({"config": dataclasses.asdict(config), "format": FORMAT_VERSION, "indicators": indicators},
                    sort_keys=True)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _batched(items: Iterable[RawExample], size: int) -> Iterator[list[RawExample]]:
  batch: list[RawExample] = []
  for item in items:
    batch.append(item)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


class _AnnotateShardFn(beam.DoFn):
  """shard path -> {status: count}, writing the shard's annotation file on the way."""

  def __init__(self, output_dir: str, config: AnnotateConfig, batch_size: int, overwrite: bool,
               max_member_bytes: int):
    self._output_dir = output_dir
    self._max_member_bytes = max_member_bytes
    self._config = config
    self._batch_size = batch_size
    self._overwrite = overwrite
    self._indicators = indicators_info()
    self._fingerprint = config_fingerprint(config, self._indicators)
    self._lid = None
    self._examples = Metrics.counter(METRICS_NAMESPACE, "examples")
    self._shards = Metrics.counter(METRICS_NAMESPACE, "shards")
    self._skipped = Metrics.counter(METRICS_NAMESPACE, "shards_already_done")

  def setup(self):
    self._lid = LanguageIdentifier()

  def _done_counts(self, final: str, shard: str) -> dict[str, int] | None:
    """Status counts of a complete annotation file made by the same config, else None."""
    if self._overwrite or not FileSystems.exists(final):
      return None
    try:
      meta = json.loads((files.read_parquet_metadata(final).metadata or {}).get(b"webpairs", b"{}"))
    except Exception:  # pylint: disable=broad-except
      return None  # unreadable: annotate again
    if meta.get("source") != shard or meta.get("config_fingerprint") != self._fingerprint:
      return None
    return meta.get("status_counts")

  def process(self, shard: str) -> Iterator[dict[str, int]]:
    final = annotation_path(self._output_dir, shard)
    done = self._done_counts(final, shard)
    if done is not None:
      self._skipped.inc()
      yield done
      return
    rows: list[dict[str, Any]] = []
    for batch in _batched(readers.read_shard(shard, self._max_member_bytes), self._batch_size):
      rows.extend(annotate_batch(batch, self._lid, self._config))
    counts = dict(sorted(collections.Counter(r["status"] for r in rows).items()))
    meta = {
        "source": shard,
        "config_fingerprint": self._fingerprint,
        "format": FORMAT_VERSION,
        "status_counts": counts,
        "indicators": self._indicators,  # names of the attr_s / concept_y entries
    }
    table = pa.Table.from_pylist(rows, schema=ANNOTATION_SCHEMA)
    table = table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(final, table)
    for status, n in counts.items():
      Metrics.counter(METRICS_NAMESPACE, status).inc(n)
    self._examples.inc(len(rows))
    self._shards.inc()
    yield counts


class _SumCounts(beam.CombineFn):
  """Adds {status: count} dicts."""

  def create_accumulator(self) -> dict[str, int]:
    return {}

  def add_input(self, acc: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    for k, v in counts.items():
      acc[k] = acc.get(k, 0) + v
    return acc

  def merge_accumulators(self, accs: Iterable[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for acc in accs:
      self.add_input(merged, acc)
    return merged

  def extract_output(self, acc: dict[str, int]) -> dict[str, int]:
    return dict(sorted(acc.items()))


class AnnotateShards(beam.PTransform):
  """PCollection of shard paths -> PCollection of per-shard {status: count}.

  Writes `OUTPUT/annotations-<shard>-<hash>.parquet` per shard (atomically).
  """

  def __init__(self, output_dir: str, config: AnnotateConfig | None = None, *, batch_size: int = 256,
               overwrite: bool = False, max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES):
    super().__init__()
    self._fn = _AnnotateShardFn(output_dir, config or AnnotateConfig(), batch_size, overwrite, max_member_bytes)

  def expand(self, shards):
    # Only shard paths are shuffled (to spread shards over workers), never examples.
    return shards | "SpreadShards" >> beam.Reshuffle() | "AnnotateShard" >> beam.ParDo(self._fn)


def _summary(counts: dict[str, int], *, inputs: list[str], num_shards: int, config: AnnotateConfig) -> dict:
  total = sum(counts.values())
  return {
      "job": "annotate",
      "inputs": inputs,
      "shards": num_shards,
      "examples": total,
      "ok": counts.get("ok", 0),
      "rejected": total - counts.get("ok", 0),
      "status_counts": counts,
      "config": dataclasses.asdict(config),
      "indicators": indicators_info(),
      "annotations": f"{ANNOTATION_PREFIX}*.parquet",
  }


def _write_summary(counts: dict[str, int], output_dir: str, **kwargs) -> None:
  files.write_json_atomic(FileSystems.join(output_dir, SUMMARY_FILE), _summary(counts, **kwargs))


def run_annotate(inputs: str | list[str], output_dir: str, pipeline_args: list[str] | None = None, *,
                 config: AnnotateConfig | None = None, batch_size: int = 256, overwrite: bool = False,
                 show_progress: bool = True) -> dict:
  """Runs the annotate job and returns the summary it wrote to OUTPUT/summary.json."""
  config = config or AnnotateConfig()
  patterns = [p for p in inputs.split(",") if p] if isinstance(inputs, str) else list(inputs)
  shards = readers.match_shards(patterns)
  pipeline_args = list(pipeline_args or [])
  log.info("annotate: %d shards -> %s", len(shards), output_dir)
  monitor = None
  if show_progress and options.is_local(pipeline_args) and "://" not in output_dir:
    monitor = progress.ShardProgress("annotate", [annotation_path(output_dir, s) for s in shards])
  start = time.time()
  pipeline = options.make_pipeline(pipeline_args)
  _ = (
      pipeline
      | "Shards" >> beam.Create(shards)
      | "Annotate" >> AnnotateShards(output_dir, config, batch_size=batch_size, overwrite=overwrite)
      | "SumCounts" >> beam.CombineGlobally(_SumCounts())
      | "WriteSummary" >> beam.Map(_write_summary, output_dir, inputs=patterns, num_shards=len(shards), config=config))
  progress.run_pipeline(pipeline, monitor)
  summary = files.read_json(FileSystems.join(output_dir, SUMMARY_FILE))
  summary["seconds"] = round(time.time() - start, 2)  # reported, not written: reruns stay identical
  return summary
