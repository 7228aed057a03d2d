"""The shape shared by the per-shard RunInference jobs (`detect`, `score`): a worker decodes a raw shard straight
into a keyed model handler, only the model's results are grouped by shard, and each shard's file is written once.

A job supplies what differs: which examples the model sees and how (ShardInputFn.model_input), its row for an
example without a result (null_row), its result rows, and its writer. This module gives the rest: skipping a
shard whose file was made with the same fingerprint (job.finished_meta), one row per example the reader saw (in
shard order, a null row where the model gave nothing), dead-letter rows for batches the model raised on, and the
run on the job skeleton (job.Job).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from webpairs.formats.raw import RawExample
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job

log = logging.getLogger(__name__)

# Tags of the decode step's outputs and of the rows grouped by shard.
ROW, EXPECTED, DONE = "row", "expected", "done"

NullRow = Callable[[int, str, str], dict]  # (offset, key, reason) -> the job's row for an example without a result


class ShardInputFn(beam.DoFn):
  """shard path -> ((shard, offset, key), model input) per example the model sees; a null row (tagged ROW) for
  every other example, the shard's example list (ROW, EXPECTED), or a finished shard's counts (DONE)."""

  def __init__(self, output_dir: str, fingerprint: str, overwrite: bool, max_member_bytes: int, namespace: str,
               not_input: str):
    self._output_dir = output_dir
    self._fingerprint = fingerprint
    self._overwrite = overwrite
    self._max_member_bytes = max_member_bytes
    self._not_input = Metrics.counter(namespace, not_input)
    self._skipped = Metrics.counter(namespace, "shards_already_done")

  def output_path(self, shard: str) -> str:
    raise NotImplementedError

  def model_input(self, ex: RawExample) -> tuple[Any, str | None]:
    """(input, None) for an example the model sees, else (None, the reason it does not)."""
    raise NotImplementedError

  def null_row(self, offset: int, key: str, reason: str) -> dict:
    raise NotImplementedError

  def process(self, shard: str) -> Iterator[Any]:
    done = job.finished_meta(self.output_path(shard), self._overwrite, source=shard, fingerprint=self._fingerprint)
    if done is not None:
      self._skipped.inc()
      yield beam.pvalue.TaggedOutput(DONE, done.get("counts"))
      return
    listed = []
    for ex in readers.read_shard(shard, self._max_member_bytes):
      listed.append((ex.offset, ex.key))
      value, reason = self.model_input(ex)
      ex.members = {}  # the encoded bytes are not needed past this point
      if value is None:
        self._not_input.inc()
        yield beam.pvalue.TaggedOutput(ROW, (shard, (ROW, self.null_row(ex.offset, ex.key, reason))))
      else:
        yield (shard, ex.offset, ex.key), value
    yield beam.pvalue.TaggedOutput(ROW, (shard, (EXPECTED, listed)))


def failed_rows(failure: tuple[Any, Any], null_row: NullRow, reason: str, namespace: str
                ) -> Iterator[tuple[str, tuple[str, dict]]]:
  """A batch the model raised on (RunInference's dead letters) -> a `reason` row per example."""
  batch, error = failure
  log.warning("%s: the model failed on a batch of %d examples: %s", namespace, len(batch), str(error)[:300])
  Metrics.counter(namespace, reason).inc(len(batch))
  for (shard, offset, key), _ in batch:
    yield shard, (ROW, null_row(offset, key, reason))


def shard_rows(items: Iterable[tuple[str, Any]], null_row: NullRow, missing: str) -> list[dict]:
  """A shard's grouped rows -> one row per example the reader listed, in shard order (`missing` for none)."""
  by_offset: dict[int, dict] = {}
  listed: list[tuple[int, str]] = []
  for kind, value in items:
    if kind == EXPECTED:
      listed = value
    else:
      by_offset[value["offset"]] = value
  rows = []
  for offset, key in listed:
    row = by_offset.get(offset)
    rows.append(row if row is not None and row["key"] == key else null_row(offset, key, missing))
  return rows


class ShardInference(beam.PTransform):
  """PCollection of raw shard paths -> PCollection of per-shard count dicts, a file written per shard.

  decode: the job's ShardInputFn; results: a DoFn of ((shard, offset, key), prediction) -> (shard, (ROW, row));
  failed: dead letters -> rows (failed_rows with the job's null row); write: a DoFn of (shard, grouped rows)
  -> counts that writes the shard's file.
  """

  def __init__(self, handler: ModelHandler, decode: ShardInputFn, results: beam.DoFn,
               failed: Callable[[tuple[Any, Any]], Iterable[Any]], write: beam.DoFn):
    super().__init__()
    self._handler = handler
    self._decode = decode
    self._results = results
    self._failed = failed
    self._write = write

  def expand(self, shards):
    decoded = (shards
               # Only shard paths are shuffled (to spread shards over workers), never pixels.
               | "SpreadShards" >> beam.Reshuffle()
               | "Decode" >> beam.ParDo(self._decode).with_outputs(ROW, DONE, main="inputs"))
    predicted, dead = (decoded.inputs
                       | "RunInference" >> RunInference(KeyedModelHandler(self._handler)).with_exception_handling())
    rows = (predicted | "Results" >> beam.ParDo(self._results),
            dead.failed_inferences | "FailedBatches" >> beam.FlatMap(self._failed),
            decoded[ROW])
    written = (rows
               | "AllRows" >> beam.Flatten()
               | "GroupByShard" >> beam.GroupByKey()  # results and ids only: metadata, never pixels
               | "WriteShard" >> beam.ParDo(self._write))
    return (written, decoded[DONE]) | "AllShards" >> beam.Flatten()


def run_job(label: str, shards: list[str], output_dir: str, transform: beam.PTransform,
            output_path: Callable[[str, str], str], combine: Callable[[Iterable[dict]], dict],
            write_summary: Callable[[dict], None], summary_file: str, pipeline_args: list[str] | None = None,
            show_progress: bool = True) -> dict:
  """Runs `transform` over the shards on the job skeleton, sums its counts into write_summary; returns the
  summary it wrote.

  output_path(output_dir, shard) names a shard's file, for the progress line.
  """
  run = job.Job(label, output_dir, pipeline_args, show_progress=show_progress,
                progress_paths=[output_path(output_dir, s) for s in shards])
  run.run(lambda pipeline: (pipeline
                            | "Shards" >> beam.Create(shards)
                            | label.title() >> transform
                            | "SumCounts" >> beam.CombineGlobally(combine)
                            | "WriteSummary" >> beam.Map(write_summary)))
  return run.finish(summary_file)
