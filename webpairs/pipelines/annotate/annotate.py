"""The `annotate` job: one parquet row per input example (kept and rejected), no image bytes.

Work is split by shard: each shard is read, annotated in batches and written as one
annotation file by the same worker, so image bytes never cross a shuffle and a rerun
skips shards whose annotation file is already complete.

Regions: each row's `regions` are the raw .json's (or raw parquet's) `regions`, cleaned.
With `regions_dir` (the detect job's output), a raw shard's region file replaces them for
every example it has a row for, a null there (undecodable image) included; examples
of shards without a region file keep their raw regions.

Scores: with `scores_dir` (the score job's output), each row's model score is added to
its `extra` JSON as `model_score` (score_files.join_scores), so `select` can cut on
`filters.score_column=extra.model_score`.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics

from webpairs.curation.annotate import (
  REGION_STATS,
  AnnotateConfig,
  annotate_batch,
  default_annotator,
)
from webpairs.formats.raw import RawExample
from webpairs.curation.lid import LanguageIdentifier
from webpairs.formats import files
from webpairs.formats.annotation_files import (ANNOTATION_PREFIX, ANNOTATION_SCHEMA, SUMMARY_FILE, annotation_path,
                                              annotations_glob)
from webpairs.pipelines.detect import region_files
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job
from webpairs.pipelines.score import score_files

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.annotate"
FORMAT_VERSION = 7  # 2: attr_s / concept_y balancing indicators; 3: regions; 4: original size, extra, und;
# 5: rows for link-only, empty and extensionless keys (offsets shift); 6: window_phash / window_dhash,
# content_aspect; 7: 11 windows (the top-left and bottom-right windows of 75% after the 9 of the grid;
# select reads format 6's 9 too)


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
               max_member_bytes: int, regions_dir: str | None = None, scores_dir: str | None = None):
    self._output_dir = output_dir
    self._regions_dir = regions_dir
    self._scores_dir = scores_dir
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

  def _done_counts(self, final: str, shard: str, regions_file: str | None, scores_file: str | None = None
                   ) -> dict[str, dict] | None:
    """Counts of a complete annotation file made by the same config and region file, else None."""
    meta = job.finished_meta(final, self._overwrite, source=shard, config_fingerprint=self._fingerprint,
                             regions_file=regions_file, scores_file=scores_file)
    if meta is None or "region_counts" not in meta:
      return None
    return {"status": meta.get("status_counts"), "regions": meta["region_counts"]}

  def _detected(self, shard: str) -> tuple[dict | None, str | None]:
    """(the detector's regions of the shard, sha256 of their file): (None, None) without one."""
    if self._regions_dir is None:
      return None, None
    found = region_files.read_regions(self._regions_dir, shard)
    if found is None:
      log.warning("%s: no region file in %s; its raw regions are kept", shard, self._regions_dir)
      return None, None
    return found

  def _scores(self, shard: str) -> tuple[dict | None, str | None]:
    """(the score job's scores of the shard, sha256 of their file): (None, None) without one."""
    if self._scores_dir is None:
      return None, None
    found = score_files.read_scores(self._scores_dir, shard)
    if found is None:
      log.warning("%s: no score file in %s; its rows get no model_score", shard, self._scores_dir)
      return None, None
    return found

  def process(self, shard: str) -> Iterator[dict[str, dict]]:
    final = annotation_path(self._output_dir, shard)
    detected, regions_file = self._detected(shard)
    scores, scores_file = self._scores(shard)
    done = self._done_counts(final, shard, regions_file, scores_file)
    if done is not None:
      self._skipped.inc()
      yield done
      return
    rows: list[dict[str, Any]] = []
    region_counts = dict.fromkeys(REGION_STATS, 0)
    for batch in _batched(readers.read_shard(shard, self._max_member_bytes), self._batch_size):
      rows.extend(annotate_batch(batch, self._lid, self._config, regions=detected, stats=region_counts))
    if scores is not None:
      Metrics.counter(METRICS_NAMESPACE, "model_scores").inc(score_files.join_scores(rows, scores))
    counts = dict(sorted(collections.Counter(r["status"] for r in rows).items()))
    meta = {
        "source": shard,
        "config_fingerprint": self._fingerprint,
        "format": FORMAT_VERSION,
        "status_counts": counts,
        "region_counts": region_counts,
        "regions_file": regions_file,  # sha256 of the detector's region file used, if any
        **({"scores_file": scores_file} if scores_file else {}),  # sha256 of the score file joined, if any
        "indicators": self._indicators,  # names of the attr_s / concept_y entries
    }
    table = pa.Table.from_pylist(rows, schema=ANNOTATION_SCHEMA)
    table = table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(final, table)
    for status, n in counts.items():
      Metrics.counter(METRICS_NAMESPACE, status).inc(n)
    for name, n in region_counts.items():
      Metrics.counter(METRICS_NAMESPACE, name).inc(n)
    self._examples.inc(len(rows))
    self._shards.inc()
    yield {"status": counts, "regions": region_counts}


class _SumCounts(beam.CombineFn):
  """Adds {part: {name: count}} dicts part by part."""

  def create_accumulator(self) -> dict[str, dict[str, int]]:
    return {}

  def add_input(self, acc: dict[str, dict[str, int]], counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    for part, named in counts.items():
      into = acc.setdefault(part, {})
      for k, v in named.items():
        into[k] = into.get(k, 0) + v
    return acc

  def merge_accumulators(self, accs: Iterable[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    merged: dict[str, dict[str, int]] = {}
    for acc in accs:
      self.add_input(merged, acc)
    return merged

  def extract_output(self, acc: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {"status": dict(sorted(acc.get("status", {}).items())),
            "regions": {k: acc.get("regions", {}).get(k, 0) for k in REGION_STATS}}


class AnnotateShards(beam.PTransform):
  """PCollection of shard paths -> PCollection of per-shard {"status": {status: count}, "regions": {...}}.

  Writes `OUTPUT/annotations-<shard>-<hash>.parquet` per shard (atomically). "regions"
  holds curation.annotate.REGION_STATS. `regions_dir`: the detect job's output, whose
  region files replace the raw regions of the examples they cover.
  """

  def __init__(self, output_dir: str, config: AnnotateConfig | None = None, *, batch_size: int = 256,
               overwrite: bool = False, max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES,
               regions_dir: str | None = None, scores_dir: str | None = None):
    super().__init__()
    self._fn = _AnnotateShardFn(output_dir, config or AnnotateConfig(), batch_size, overwrite, max_member_bytes,
                                regions_dir, scores_dir)

  def expand(self, shards):
    # Only shard paths are shuffled (to spread shards over workers), never examples.
    return shards | "SpreadShards" >> beam.Reshuffle() | "AnnotateShard" >> beam.ParDo(self._fn)


def _summary(counts: dict[str, dict[str, int]], *, inputs: list[str], num_shards: int, config: AnnotateConfig,
             regions_dir: str | None) -> dict:
  status = counts["status"]
  total = sum(status.values())
  return {
      "job": "annotate",
      "inputs": inputs,
      "shards": num_shards,
      "examples": total,
      "ok": status.get("ok", 0),
      "rejected": total - status.get("ok", 0),
      "status_counts": status,
      **counts["regions"],  # regions_examples, regions_kept, regions_dropped, regions_replaced
      "regions_dir": regions_dir,
      "config": dataclasses.asdict(config),
      "indicators": indicators_info(),
      "annotations": f"{ANNOTATION_PREFIX}*.parquet",
  }


def _write_summary(counts: dict[str, dict[str, int]], output_dir: str, **kwargs) -> None:
  files.write_json_atomic(files.join(output_dir, SUMMARY_FILE), _summary(counts, **kwargs))


def _warn_foreign_files(output_dir: str, expected: set[str]) -> None:
  """Annotation files of other inputs in OUTPUT (e.g. from a run before paths were absolute) would be selected too."""
  try:
    found = files.match(annotations_glob(output_dir))
  except Exception:  # pylint: disable=broad-except
    return  # no output folder yet
  foreign = sorted(m.path for m in found if m.path not in expected)
  if foreign:
    log.warning("annotate: %d annotation files in %s are not from these inputs (e.g. %s); select reads every "
                "%s*.parquet there: remove them or annotate into another folder",
                len(foreign), output_dir, foreign[0], ANNOTATION_PREFIX)


def run_annotate(inputs: str | list[str], output_dir: str, pipeline_args: list[str] | None = None, *,
                 config: AnnotateConfig | None = None, batch_size: int = 256, overwrite: bool = False,
                 show_progress: bool = True, regions_dir: str | None = None, scores_dir: str | None = None) -> dict:
  """Runs the annotate job and returns the summary it wrote to OUTPUT/summary.json.

  `regions_dir`: output of `run_detect` on the same inputs; its regions replace the raw
  .json regions of the examples it covers (see the module docstring).
  """
  config = config or AnnotateConfig()
  patterns = [p for p in inputs.split(",") if p] if isinstance(inputs, str) else list(inputs)
  # Absolute: materialize reads these from the summary, maybe from another folder.
  patterns = [readers.resolve_pattern(p) for p in patterns]
  shards = readers.match_shards(patterns)
  pipeline_args = list(pipeline_args or [])
  log.info("annotate: %d shards -> %s", len(shards), output_dir)
  _warn_foreign_files(output_dir, {annotation_path(output_dir, s) for s in shards})
  run = job.Job("annotate", output_dir, pipeline_args, show_progress=show_progress,
                progress_paths=[annotation_path(output_dir, s) for s in shards])
  run.run(lambda pipeline: (
      pipeline
      | "Shards" >> beam.Create(shards)
      | "Annotate" >> AnnotateShards(output_dir, config, batch_size=batch_size, overwrite=overwrite,
                                     regions_dir=regions_dir, scores_dir=scores_dir)
      | "SumCounts" >> beam.CombineGlobally(_SumCounts())
      | "WriteSummary" >> beam.Map(_write_summary, output_dir, inputs=patterns, num_shards=len(shards), config=config,
                                   regions_dir=regions_dir)))
  return run.finish(SUMMARY_FILE)
