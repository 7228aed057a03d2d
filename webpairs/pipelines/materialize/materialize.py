"""The `materialize` job: join a selection with the raw shards and write curated shards.

Output: `{prefix}-{index:05d}.tar` (webdataset) or `.tfrecord` (tf.train.Example), a
parquet sidecar per shard and `manifest.json`. Planning groups metadata only
(curated_plan.py); image bytes are read and written by the worker that owns an output
shard (curated_write.py), never shuffled.
"""

from __future__ import annotations

import logging

import apache_beam as beam

from webpairs.curation.resize import DEFAULT_QUALITY
from webpairs.formats import annotation_files, curated, files, selection
from webpairs.pipelines.materialize import layout, manifest
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job, shuffle
from webpairs.pipelines.select import selection_io
from webpairs.pipelines.materialize.curated_plan import PlanCuratedShards
from webpairs.pipelines.materialize.curated_write import FORMAT_VERSION, WriteCuratedShards

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 1000
DEFAULT_PREFIX = "shard"


class Materialize(beam.PTransform):
  """Selection row groups (pyarrow tables) -> one stats dict per curated shard written."""

  def __init__(self, output_dir: str, annotations_dir: str, inputs: list[str], *,
               shard_size: int = DEFAULT_SHARD_SIZE, prefix: str = DEFAULT_PREFIX, fmt: str = curated.WEBDATASET,
               resize: int | None = None, quality: int = DEFAULT_QUALITY, overwrite: bool = False):
    super().__init__()
    self._plan = PlanCuratedShards(annotations_dir, shard_size, inputs)
    self._write = WriteCuratedShards(output_dir, prefix=prefix, fmt=fmt, resize=resize, quality=quality,
                                     overwrite=overwrite)

  def expand(self, tables):
    return tables | "Plan" >> self._plan | "Write" >> self._write


def _remove_leftovers(output_dir: str, prefix: str, keep: set[str]) -> None:
  """Deletes our shard files that the manifest does not list, and temp files of killed runs."""
  pattern = curated.shard_name_pattern(prefix)
  found = files.match(files.join(output_dir, f"{prefix}-*"))
  stale = sorted(m.path for m in found
                 if pattern.match(files.basename(m.path)) and files.basename(m.path) not in keep)
  if stale:
    # Left by an earlier run with more shards: globbing readers must see the manifest's shards only.
    log.warning("materialize: removing %d shard files not in this manifest, e.g. %s", len(stale), stale[0])
    files.delete(stale)
  tmp = files.match(files.join(output_dir, files.TMP_DIR, f"{prefix}-*"))
  if tmp:
    files.delete([m.path for m in tmp])


def _progress_paths(output_dir: str, prefix: str, summary: dict, shard_size: int) -> list[str] | None:
  """The sidecars to expect, when the selection summary says how many copies (else no progress line)."""
  kept, written = summary.get("kept"), summary.get("written")
  if not isinstance(kept, int) or not isinstance(written, int):
    return None
  count = sum(layout.shard_counts(kept, written - kept, shard_size))
  return [files.join(output_dir, curated.shard_stem(prefix, i) + ".parquet") for i in range(count)]


def run_materialize(selection_dir: str, output_dir: str, inputs: str | list[str] | None = None,
                    pipeline_args: list[str] | None = None, *, shard_size: int = DEFAULT_SHARD_SIZE,
                    resize: int | None = None, fmt: str = curated.WEBDATASET, prefix: str = DEFAULT_PREFIX,
                    quality: int = DEFAULT_QUALITY, annotations_dir: str | None = None, overwrite: bool = False,
                    show_progress: bool = True) -> dict:
  """Runs the materialize job; returns the manifest it wrote to OUTPUT/manifest.json.

  `inputs`: globs of the raw shards (default: the annotate job's inputs). Selected
  examples of other raw shards are counted in the manifest's `not_written`, not written.
  `resize`: shorter side in pixels (JPEG out); None keeps the original bytes.
  """
  if shard_size <= 0:
    raise ValueError(f"shard_size must be positive, got {shard_size}")
  summary = selection_io.read_summary(selection_dir)
  annotations_dir = annotations_dir or summary.get("annotations")
  if not annotations_dir:
    raise ValueError(f"{selection_dir}/summary.json names no annotations directory; pass annotations_dir")
  if inputs is None:
    inputs = files.read_json(files.join(annotations_dir, annotation_files.SUMMARY_FILE))["inputs"]
  patterns = [p for p in inputs.split(",") if p] if isinstance(inputs, str) else list(inputs)
  shards = readers.match_shards(patterns)
  selection_io.selection_files(selection_dir)  # a clear error when there are none
  static = manifest.static_fields(
      summary, selection_dir=selection_dir, annotations_dir=annotations_dir, inputs=shards, fmt=fmt,
      prefix=prefix, shard_size=shard_size, resize=resize, quality=quality, version=FORMAT_VERSION)
  log.info("materialize: %s (%d raw shards) -> %s", selection_dir, len(shards), output_dir)
  run = job.Job("materialize", output_dir, pipeline_args, show_progress=show_progress,
                progress_paths=_progress_paths(output_dir, prefix, summary, shard_size))
  run_result = run.run(lambda pipeline: (
      pipeline
      | "ReadSelection" >> beam.io.ReadFromParquetBatched(selection.selection_glob(selection_dir),
                                                          columns=selection_io.PLAN_COLUMNS)
      | "Materialize" >> Materialize(output_dir, annotations_dir, shards, shard_size=shard_size, prefix=prefix,
                                     fmt=fmt, resize=resize, quality=quality, overwrite=overwrite)
      | "AllShards" >> beam.combiners.ToList()
      | "WriteManifest" >> beam.Map(manifest.write_manifest, output_dir, static)))
  run.finish()
  result = manifest.read_manifest(output_dir)
  _remove_leftovers(output_dir, prefix, {n for s in result["shards"] for n in (s["name"], s["sidecar"])})
  result["seconds"] = run.seconds()  # reported, not written: reruns stay identical
  result["shuffle"] = shuffle.per_row(shuffle.shuffle_bytes(run_result), result["examples"])
  return result
