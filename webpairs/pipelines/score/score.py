"""The `score` job: pair scores (and embeddings) of raw examples from a trained two-tower, via Beam RunInference.

    webpairs curate score --input 'raw/*.tar' --checkpoint WORKDIR --output scores [--embeddings]
    webpairs curate annotate --input 'raw/*.tar' --output annotations --scores scores

`TwoTowerScorer` is a RunInference `ModelHandler` that restores a `webpairs pretrain`
checkpoint (any two-tower run: SigLIP, SigLIP 2, SILC) once per worker process (Beam's
shared model) and scores batches of (pixels, caption): score = t * cos(zimg, ztxt) + b,
the logit of the sigmoid loss. Pixels and tokens are those the trainer sees (plain
resize to the square input size, project tokenizer). JAX runs on whatever device it sees.

The shape of the job is detect's (pipelines/detect/detect.py): a worker reads a raw shard and
decodes its images straight into RunInference, only scores are grouped by shard, and
`scores-<shard>-<hash>.parquet` (score_files.py) is written atomically per raw shard
with one row per example. Examples annotate's per-example checks reject get a row with
a null score and the reason in `error`, as do batches the model raised on. A rerun
skips shards whose file was made by the same checkpoint and settings. Every batch the
model sees is padded to `batch_size`, so an example's score does not depend on which
examples shared its batch: reruns are byte-identical.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from webpairs.curation import annotate as annotate_lib
from webpairs.curation import reasons
from webpairs.formats.raw import RawExample, image_extension
from webpairs.formats import files
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job, shard_inference
from webpairs.pipelines.score import score_files

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.score"
SUMMARY_FILE = "summary.json"
FORMAT_VERSION = 1
MODEL_FAILED = "model_failed"  # the model raised on the batch the example was in
NO_PREDICTION = "no_prediction"  # RunInference gave no result for the example
# Per-shard and summary counts: rows; rows with a score; rows annotate rejects; rows the model failed on.
COUNTS = ("examples", "scored", "rejected", MODEL_FAILED)


def resolve_step(workdir: str, step: int | None = None) -> int:
  """The checkpoint step to score with (default: the newest), checked to exist."""
  from webpairs.pretrain import checkpoint as ckpt_lib  # pylint: disable=import-outside-toplevel
  ckpt_dir = os.path.join(workdir, ckpt_lib.CHECKPOINT_DIR)
  checkpointer = ckpt_lib.Checkpointer(ckpt_dir, every=1, keep=1)
  try:
    steps = checkpointer.all_steps()
  finally:
    checkpointer.close()
  if not steps:
    raise FileNotFoundError(f"no checkpoints in {ckpt_dir}")
  if step is None:
    return int(steps[-1])
  if step not in steps:
    raise FileNotFoundError(f"no checkpoint of step {step} in {ckpt_dir}; there are {steps}")
  return int(step)


class TwoTowerScorer(ModelHandler[tuple[np.ndarray, str], PredictionResult, Any]):
  """(uint8 [res, res, 3] pixels, caption) -> PredictionResult with inference {score, sigmoid, image, text}.

  The checkpoint is restored in `load_model`, which RunInference calls once per worker
  process; every batch is padded to `batch_size` (fixed shapes: one compilation, and
  scores independent of batch composition).
  """

  def __init__(self, workdir: str, step: int | None = None, *, batch_size: int = 64, tokenizer: str | None = None):
    from webpairs.pretrain.inference import loader  # pylint: disable=import-outside-toplevel
    self.workdir = os.path.abspath(workdir)
    self.step = resolve_step(self.workdir, step)
    config = loader.load_config(self.workdir)
    if config.get("model_name", "two_towers") == "captioner":
      raise ValueError(f"{workdir} is a captioner run: `curate score` needs a two-tower (SigLIP-family) checkpoint")
    self.image_size = int(config.input.res)
    self.batch_size = int(batch_size)
    self.tokenizer = tokenizer
    if self.batch_size < 1:
      raise ValueError(f"batch_size must be >= 1, got {batch_size}")

  def __repr__(self) -> str:
    return f"TwoTowerScorer(workdir={self.workdir!r}, step={self.step}, batch_size={self.batch_size})"

  def load_model(self) -> Any:
    from webpairs.pretrain.inference import loader  # pylint: disable=import-outside-toplevel
    model, _ = loader.load_checkpoint(self.workdir, self.step, tokenizer=self.tokenizer)
    log.info("score: restored %s step %d", self.workdir, self.step)
    return model

  def batch_elements_kwargs(self) -> dict[str, int]:
    return {"min_batch_size": 1, "max_batch_size": self.batch_size}

  def score(self, model: Any, pixels: np.ndarray, captions: Sequence[str]) -> dict[str, np.ndarray]:
    """Scores, sigmoids and embeddings of one batch (n <= batch_size), computed in a padded batch_size batch."""
    n = len(captions)
    if n > self.batch_size:
      raise ValueError(f"{n} examples in a batch of at most {self.batch_size}")
    pad = self.batch_size - n
    if pad:
      pixels = np.concatenate([pixels, np.zeros((pad, *pixels.shape[1:]), np.uint8)])
    zimg = model.embed_images(pixels)[:n]
    ztxt = model.embed_texts(list(captions) + [""] * pad)[:n]
    t, b = model.scale_and_bias()
    logit = (t * np.sum(zimg * ztxt, axis=1, dtype=np.float32) + b).astype(np.float32)
    return {"score": logit, "sigmoid": (1.0 / (1.0 + np.exp(-logit))).astype(np.float32), "image": zimg,
            "text": ztxt}

  def run_inference(self, batch: Sequence[tuple[np.ndarray, str]], model: Any,
                    inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
    out = self.score(model, np.stack([p for p, _ in batch]), [c for _, c in batch])
    return [PredictionResult(example, {k: v[i] for k, v in out.items()}) for i, example in enumerate(batch)]


def score_fingerprint(handler: TwoTowerScorer, embeddings: bool) -> str:
  """Score files of another checkpoint, step, batch size or column set are made again on resume."""
  blob = json.dumps({"scorer": repr(handler), "embeddings": embeddings, "format": FORMAT_VERSION}, sort_keys=True)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _row(offset: int, key: str, error: str | None, out: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
  if out is None:
    return {"offset": offset, "key": key, "score": None, "score_sigmoid": None, "error": error, "image": None,
            "text": None}
  return {"offset": offset, "key": key, "score": float(out["score"]), "score_sigmoid": float(out["sigmoid"]),
          "error": None, "image": out["image"], "text": out["text"]}


def _null_row(offset: int, key: str, reason: str) -> dict[str, Any]:
  return _row(offset, key, reason)


class _DecodeShardFn(shard_inference.ShardInputFn):
  """shard path -> ((shard, offset, key), (pixels, caption)) per example annotate keeps
  (shard_inference.ShardInputFn); a null row with the reject reason for every other example."""

  def __init__(self, output_dir: str, fingerprint: str, image_size: int, overwrite: bool, max_member_bytes: int,
               config: annotate_lib.AnnotateConfig):
    super().__init__(output_dir, fingerprint, overwrite, max_member_bytes, METRICS_NAMESPACE, "rejected")
    self._image_size = image_size
    self._config = config

  def output_path(self, shard: str) -> str:
    return score_files.scores_path(self._output_dir, shard)

  def null_row(self, offset: int, key: str, reason: str) -> dict[str, Any]:
    return _null_row(offset, key, reason)

  def model_input(self, ex: RawExample) -> tuple[Any, str | None]:
    """((pixels, caption), None) for an example annotate keeps, else (None, its reject reason)."""
    from webpairs.pretrain.input import preprocess  # pylint: disable=import-outside-toplevel
    status, caption = annotate_lib.precheck(ex, self._config)
    if status != reasons.OK:
      return None, status
    ext = image_extension(ex.members)
    try:  # the header passed annotate's bomb and format checks: decode as the trainer does
      pixels = preprocess.decode_image(ex.members[ext], self._image_size)
    except Exception:  # pylint: disable=broad-except
      return None, reasons.TRUNCATED_IMAGE
    return (pixels, caption), None


class _ScoredRowFn(beam.DoFn):
  """((shard, offset, key), prediction) -> (shard, row) with the score (and embeddings)."""

  def __init__(self):
    self._scored = Metrics.counter(METRICS_NAMESPACE, "scored")

  def process(self, element: tuple[tuple[str, int, str], PredictionResult]) -> Iterator[tuple[str, tuple[str, dict]]]:
    (shard, offset, key), prediction = element
    self._scored.inc()
    yield shard, (shard_inference.ROW, _row(offset, key, None, prediction.inference))


def _count(rows: list[dict]) -> dict[str, int]:
  counts = dict.fromkeys(COUNTS, 0)
  errors: collections.Counter = collections.Counter()
  for r in rows:
    counts["examples"] += 1
    if r["error"] is None:
      counts["scored"] += 1
    elif r["error"] in (MODEL_FAILED, NO_PREDICTION):
      counts[MODEL_FAILED] += 1
    else:
      counts["rejected"] += 1
    if r["error"]:
      errors[f"error/{r['error']}"] += 1
  return {**counts, **dict(sorted(errors.items()))}


def sum_counts(parts: Iterable[dict[str, int]]) -> dict[str, int]:
  """Adds count dicts (associative and commutative: a CombineGlobally function)."""
  return job.sum_counts(parts, COUNTS)


class _WriteScoresFn(beam.DoFn):
  """(shard, rows and its example list) -> counts, writing the shard's score file on the way."""

  def __init__(self, output_dir: str, fingerprint: str, scorer: str, embeddings: bool):
    self._output_dir = output_dir
    self._fingerprint = fingerprint
    self._scorer = scorer
    self._embeddings = embeddings
    self._shards = Metrics.counter(METRICS_NAMESPACE, "shards")

  def process(self, element: tuple[str, Iterable[tuple[str, Any]]]) -> Iterator[dict[str, int]]:
    shard, items = element
    rows = shard_inference.shard_rows(items, _null_row, NO_PREDICTION)
    counts = _count(rows)
    schema = score_files.schema(self._embeddings)
    columns = {name: [r[name] for r in rows] for name, _ in score_files.BASE_FIELDS}
    arrays = [pa.array(columns[name], typ) for name, typ in score_files.BASE_FIELDS]
    if self._embeddings:
      for name, part in zip(score_files.EMBEDDING_COLUMNS, ("image", "text"), strict=True):
        vectors = [r[part] for r in rows]
        dim = next((len(v) for v in vectors if v is not None), 0)
        arrays.append(score_files.embedding_column(vectors, dim))
    table = pa.Table.from_arrays(arrays, schema=schema)
    meta = {"source": shard, "fingerprint": self._fingerprint, "format": FORMAT_VERSION, "counts": counts,
            "scorer": self._scorer}
    table = table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(score_files.scores_path(self._output_dir, shard), table)
    self._shards.inc()
    yield counts


class ScoreShards(shard_inference.ShardInference):
  """PCollection of raw shard paths -> PCollection of per-shard count dicts (COUNTS, error/<reason>).

  Writes `OUTPUT/scores-<shard>-<hash>.parquet` per shard (see the module docstring).
  """

  def __init__(self, handler: TwoTowerScorer, output_dir: str, *, embeddings: bool = False, overwrite: bool = False,
               config: annotate_lib.AnnotateConfig | None = None,
               max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES):
    fingerprint = score_fingerprint(handler, embeddings)
    super().__init__(
        handler, _DecodeShardFn(output_dir, fingerprint, handler.image_size, overwrite, max_member_bytes,
                                config or annotate_lib.AnnotateConfig()),
        _ScoredRowFn(),
        functools.partial(shard_inference.failed_rows, null_row=_null_row, reason=MODEL_FAILED,
                          namespace=METRICS_NAMESPACE),
        _WriteScoresFn(output_dir, fingerprint, repr(handler), embeddings))


def _write_summary(counts: dict[str, int], output_dir: str, **fields) -> None:
  summary = {"job": "score", **fields, **counts, "score_files": f"{score_files.SCORES_PREFIX}*.parquet"}
  files.write_json_atomic(files.join(output_dir, SUMMARY_FILE), summary)


def run_score(inputs: str | list[str], output_dir: str, handler: TwoTowerScorer,
              pipeline_args: list[str] | None = None, *, embeddings: bool = False, overwrite: bool = False,
              show_progress: bool = True) -> dict:
  """Runs the score job and returns the summary it wrote to OUTPUT/summary.json.

  `inputs`: comma-separated globs (or a list) of raw shards; give annotate the same
  inputs, since score files are named by the full shard path.
  """
  patterns = [p for p in inputs.split(",") if p] if isinstance(inputs, str) else list(inputs)
  patterns = [readers.resolve_pattern(p) for p in patterns]  # as annotate names its shards
  shards = readers.match_shards(patterns)
  log.info("score: %d shards with %r -> %s", len(shards), handler, output_dir)
  return shard_inference.run_job(
      "score", shards, output_dir, ScoreShards(handler, output_dir, embeddings=embeddings, overwrite=overwrite),
      score_files.scores_path, sum_counts,
      functools.partial(_write_summary, output_dir=output_dir, inputs=patterns, shards=len(shards),
                        scorer=repr(handler), embeddings=embeddings,
                        fingerprint=score_fingerprint(handler, embeddings)),
      SUMMARY_FILE, pipeline_args, show_progress)
