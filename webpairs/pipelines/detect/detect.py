"""The `detect` job: region annotations from any detector exposed as a Beam RunInference model handler.

    webpairs curate detect --input 'raw/*.tar' --output regions \\
        --detector webpairs.pipelines.detect.detectors:colour_blobs
    webpairs curate annotate --input 'raw/*.tar' --output annotations --regions regions

The detector is a `ModelHandler` (apache_beam.ml.inference.base) that takes one image
as uint8 [H, W, 3] RGB pixels (as stored: no EXIF rotation) and gives, per image, a
PredictionResult whose `inference` is a list of regions {"text": str, "box": [ymin,
xmin, ymax, xmax]} normalised to [0, 1] by the image's height and width (a bare list
instead of a PredictionResult is taken too). `--detector module:factory` names a
function returning the handler. The job wraps it in a KeyedModelHandler and runs it
through RunInference, so batching, model sharing and Beam's ML metrics are Beam's.

Work is split by raw shard: a worker reads a shard and decodes its images (bomb-safe,
as annotate: curation/image.py) straight into RunInference, without a shuffle of image
bytes; only the resulting regions are grouped by shard. Output, in OUTPUT:
`regions-<shard>-<hash>.parquet` per raw shard (region_files.py: one row per example,
`offset`, `key`, `regions` JSON, `error`), written atomically, and `summary.json`.
Regions are cleaned as annotate cleans raw ones (curation/regions.py): malformed ones
are dropped and counted, never fatal. An example whose image cannot be decoded, or whose
batch made the detector raise, gets a row with null regions and its reason in `error`.
A rerun skips shards whose region file was made by the same detector (describe_detector:
its repr, or its class path when it defines none) and settings; reruns give byte-identical files for a deterministic detector.

`annotate --regions OUTPUT` then uses these regions instead of the raw .json ones for
every example a region file has a row for (null regions included).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from webpairs.curation import image, reasons
from webpairs.curation import regions as regions_lib
from webpairs.formats.raw import RawExample, image_extension
from webpairs.formats import files
from webpairs.pipelines.detect import region_files
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job, shard_inference

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.detect"
SUMMARY_FILE = "summary.json"
FORMAT_VERSION = 2  # 2: the readers give rows to link-only, empty and extensionless keys (offsets shift)
DETECTOR_FAILED = "detector_failed"  # the detector raised on the batch the image was in
NO_PREDICTION = "no_prediction"  # the detector returned fewer results than images
# Per-shard and summary counts: rows; rows the detector ran on; of those, rows with a region;
# regions kept; regions dropped as malformed; rows with an image that did not decode.
COUNTS = ("examples", "detected", "with_regions", "regions", "regions_dropped", "undecodable", DETECTOR_FAILED)


def load_detector(spec: str) -> ModelHandler:
  """'package.module:factory' -> factory(), which must return a RunInference ModelHandler."""
  module_name, sep, attr = spec.partition(":")
  if not sep or not module_name or not attr:
    raise ValueError(f"--detector must be MODULE:FACTORY, got {spec!r}")
  factory = getattr(importlib.import_module(module_name), attr)
  handler = factory()
  if not isinstance(handler, ModelHandler):
    raise TypeError(f"{spec}() returned {type(handler).__name__}, not an apache_beam ModelHandler")
  return handler


def describe_detector(model_handler: ModelHandler) -> str:
  """The handler's own repr (class and settings) if it defines one, else its class path: never an address."""
  if type(model_handler).__repr__ is object.__repr__:
    return f"{type(model_handler).__module__}.{type(model_handler).__qualname__}"
  return repr(model_handler)


def detector_fingerprint(model_handler: ModelHandler, max_pixels: int) -> str:
  """Region files of another detector (describe_detector) or limit are made again on resume."""
  blob = json.dumps({"detector": describe_detector(model_handler), "max_pixels": max_pixels,
                     "format": FORMAT_VERSION},
                    sort_keys=True)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _row(ex_offset: int, key: str, regions: str | None, error: str | None, dropped: int = 0) -> dict[str, Any]:
  return {"offset": ex_offset, "key": key, "regions": regions, "error": error, "dropped": dropped}


def _null_row(offset: int, key: str, reason: str) -> dict[str, Any]:
  return _row(offset, key, None, reason)


class _DecodeShardFn(shard_inference.ShardInputFn):
  """shard path -> ((shard, offset, key), pixels) per decodable image (shard_inference.ShardInputFn)."""

  def __init__(self, output_dir: str, fingerprint: str, max_pixels: int, overwrite: bool, max_member_bytes: int):
    super().__init__(output_dir, fingerprint, overwrite, max_member_bytes, METRICS_NAMESPACE, "undecodable")
    self._max_pixels = max_pixels

  def output_path(self, shard: str) -> str:
    return region_files.regions_path(self._output_dir, shard)

  def null_row(self, offset: int, key: str, reason: str) -> dict[str, Any]:
    return _null_row(offset, key, reason)

  def model_input(self, ex: RawExample) -> tuple[Any, str | None]:
    """(pixels, None), or (None, reason) when there is nothing to detect on."""
    if ex.read_error:
      return None, ex.read_error
    ext = image_extension(ex.members)
    if ext is None:
      return None, reasons.MISSING_IMAGE
    decoded = image.decode_rgb(ex.members[ext], self._max_pixels)
    return decoded.pixels, (None if decoded.pixels is not None else decoded.status)


class _PredictionRowFn(beam.DoFn):
  """((shard, offset, key), prediction) -> (shard, row) with the cleaned regions."""

  def __init__(self):
    self._kept = Metrics.counter(METRICS_NAMESPACE, "regions")
    self._dropped = Metrics.counter(METRICS_NAMESPACE, "regions_dropped")
    self._detected = Metrics.counter(METRICS_NAMESPACE, "detected")

  def process(self, element: tuple[tuple[str, int, str], Any]) -> Iterator[tuple[str, tuple[str, dict]]]:
    (shard, offset, key), prediction = element
    value = prediction.inference if isinstance(prediction, PredictionResult) else prediction
    kept, dropped = regions_lib.clean_regions(value)
    self._detected.inc()
    self._kept.inc(len(kept))
    self._dropped.inc(dropped)
    yield shard, (shard_inference.ROW, _row(offset, key, regions_lib.to_json(kept) or "[]", None, dropped))


class _WriteRegionsFn(beam.DoFn):
  """(shard, rows and its example list) -> counts, writing the shard's region file on the way."""

  def __init__(self, output_dir: str, fingerprint: str, detector: str):
    self._output_dir = output_dir
    self._fingerprint = fingerprint
    self._detector = detector
    self._shards = Metrics.counter(METRICS_NAMESPACE, "shards")

  def process(self, element: tuple[str, Iterable[tuple[str, Any]]]) -> Iterator[dict[str, int]]:
    shard, items = element
    rows = shard_inference.shard_rows(items, _null_row, NO_PREDICTION)
    counts = _count(rows)
    meta = {"source": shard, "fingerprint": self._fingerprint, "format": FORMAT_VERSION, "counts": counts,
            "detector": self._detector}
    table = pa.Table.from_pylist(rows, schema=region_files.REGIONS_SCHEMA)
    table = table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(region_files.regions_path(self._output_dir, shard), table)
    self._shards.inc()
    yield counts


def _count(rows: list[dict]) -> dict[str, int]:
  counts = dict.fromkeys(COUNTS, 0)
  errors: collections.Counter = collections.Counter()
  for r in rows:
    counts["examples"] += 1
    counts["regions_dropped"] += r["dropped"]
    if r["regions"] is not None:
      n = len(json.loads(r["regions"]))
      counts["detected"] += 1
      counts["with_regions"] += n > 0
      counts["regions"] += n
    elif r["error"] in (DETECTOR_FAILED, NO_PREDICTION):
      counts[DETECTOR_FAILED] += 1
    else:
      counts["undecodable"] += 1
    if r["error"]:
      errors[f"error/{r['error']}"] += 1
  return {**counts, **dict(sorted(errors.items()))}


def sum_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
  """Adds count dicts (associative and commutative: a CombineGlobally function)."""
  return job.sum_counts(parts, COUNTS)


class DetectRegions(shard_inference.ShardInference):
  """PCollection of raw shard paths -> PCollection of per-shard count dicts (COUNTS, error/<reason>).

  Writes `OUTPUT/regions-<shard>-<hash>.parquet` per shard with `model_handler`'s
  regions (see the module docstring for what the handler must return).
  """

  def __init__(self, model_handler: ModelHandler, output_dir: str, *, max_pixels: int = image.DEFAULT_MAX_PIXELS,
               overwrite: bool = False, max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES):
    fingerprint = detector_fingerprint(model_handler, max_pixels)
    super().__init__(
        model_handler, _DecodeShardFn(output_dir, fingerprint, max_pixels, overwrite, max_member_bytes),
        _PredictionRowFn(),
        functools.partial(shard_inference.failed_rows, null_row=_null_row, reason=DETECTOR_FAILED,
                          namespace=METRICS_NAMESPACE),
        _WriteRegionsFn(output_dir, fingerprint, describe_detector(model_handler)))


def _write_summary(counts: dict[str, int], output_dir: str, **fields) -> None:
  summary = {"job": "detect", **fields, **counts, "regions_files": f"{region_files.REGIONS_PREFIX}*.parquet"}
  files.write_json_atomic(files.join(output_dir, SUMMARY_FILE), summary)


def run_detect(inputs: str | list[str], output_dir: str, model_handler: ModelHandler,
               pipeline_args: list[str] | None = None, *, max_pixels: int = image.DEFAULT_MAX_PIXELS,
               overwrite: bool = False, show_progress: bool = True) -> dict:
  """Runs the detect job and returns the summary it wrote to OUTPUT/summary.json.

  `inputs`: comma-separated globs (or a list) of raw shards, as for annotate; give
  annotate the same inputs, since region files are named by the full shard path.
  """
  patterns = [p for p in inputs.split(",") if p] if isinstance(inputs, str) else list(inputs)
  shards = readers.match_shards(patterns)
  log.info("detect: %d shards with %s -> %s", len(shards), describe_detector(model_handler), output_dir)
  return shard_inference.run_job(
      "detect", shards, output_dir,
      DetectRegions(model_handler, output_dir, max_pixels=max_pixels, overwrite=overwrite),
      region_files.regions_path, sum_counts,
      functools.partial(_write_summary, output_dir=output_dir, inputs=patterns, shards=len(shards),
                        detector=describe_detector(model_handler), max_pixels=max_pixels,
                        fingerprint=detector_fingerprint(model_handler, max_pixels)),
      SUMMARY_FILE, pipeline_args, show_progress)
