"""The skeleton of every Beam job (annotate, detect, score, semdedup, select, materialize): a progress line on
local runs, the pipeline run, OUT/.tmp cleaned of stale temp files once it succeeded, the summary read back with
its run time; and resume by fingerprint (a file whose footer records the same inputs and settings is kept).

A job supplies only what differs: how it builds its pipeline, which files show progress, its summary file.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam

from webpairs.formats import files
from webpairs.pipelines.runtime import options, progress

FOOTER_KEY = b"webpairs"  # parquet footer metadata: what made the file (source, fingerprint) and its counts


def finished_meta(final: str, overwrite: bool, **expected: Any) -> dict[str, Any] | None:
  """The footer metadata of the parquet file `final` when it is there, readable and records every `expected`
  value (e.g. source=shard, fingerprint=...); else None, and the job makes the file again.

  Files appear only complete (files.atomic_output), so a readable one is a finished one.
  """
  if overwrite or not files.exists(final):
    return None
  try:
    meta = json.loads((files.read_parquet_metadata(final).metadata or {}).get(FOOTER_KEY, b"{}"))
  except Exception:  # pylint: disable=broad-except
    return None  # unreadable: make it again
  if any(meta.get(k) != v for k, v in expected.items()):
    return None
  return meta


def sum_counts(parts: Iterable[dict[str, int]], keys: tuple[str, ...] = ()) -> dict[str, int]:
  """Adds per-shard count dicts: `keys` first, in order, then the rest sorted (associative and commutative,
  so a finished shard's stored counts add up with the counts of the shards made now)."""
  total: collections.Counter = collections.Counter()
  for part in parts:
    total.update(part)
  return {k: total[k] for k in keys} | dict(sorted((k, v) for k, v in total.items() if k not in keys))


class Job:
  """One run of a job writing into `output_dir`: `run(build)` (again, for a job that retries), then `finish()`.

  progress_paths: the final files the job makes, counted for the progress line (None: no line).
  """

  def __init__(self, label: str, output_dir: str, pipeline_args: list[str] | None = None, *,
               progress_paths: list[str] | None = None, show_progress: bool = True):
    self.label = label
    self.output_dir = output_dir
    self.pipeline_args = list(pipeline_args or [])
    # The driver counts files it can see: only for runs in this process tree on a local output.
    local = options.is_local(self.pipeline_args) and "://" not in output_dir
    self._progress_paths = progress_paths if show_progress and local else None
    self.start = time.time()

  def run(self, build: Callable[[beam.Pipeline], Any]) -> Any:
    """Builds a pipeline with `build(pipeline)` and runs it to completion, with a progress line; its result."""
    pipeline = options.make_pipeline(self.pipeline_args)
    build(pipeline)
    # A monitor per run: its thread starts once, and a rerun of a retrying job counts afresh.
    monitor = progress.ShardProgress(self.label, self._progress_paths) if self._progress_paths is not None else None
    return progress.run_pipeline(pipeline, monitor)

  def seconds(self) -> float:
    return round(time.time() - self.start, 2)

  def finish(self, summary_file: str | None = None) -> dict[str, Any] | None:
    """After a successful run: clears temp files older than this run (left by killed or failed runs), then
    returns OUTPUT/summary_file with the run's `seconds` (reported, not written: reruns stay identical)."""
    files.remove_stale_tmp(self.output_dir, self.start)
    if summary_file is None:
      return None
    summary = files.read_json(files.join(self.output_dir, summary_file))
    summary["seconds"] = self.seconds()
    return summary
