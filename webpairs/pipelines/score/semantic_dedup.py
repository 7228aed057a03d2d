"""The `semdedup` job (SemDeDup): k-means of image embeddings in Beam, near-identical meaning within a cluster.

    webpairs curate score --input 'raw/*.tar' --checkpoint W --output scores --embeddings
    webpairs curate semdedup --scores scores --output semantic --clusters 1000 --threshold 0.95

Spherical k-means runs as `iterations` Beam passes over the score files: each file sums
its rows' unit embeddings per nearest centroid (exact int64 fixed point,
curation/semantic.py), the sums are combined and become the next centroids (a side
input). The initial centroids are the rows with the smallest row hash. Then rows are
grouped by cluster and, within each, a row whose cosine with a higher-scoring row is
above `threshold` is a duplicate (`semantic_dup`) of the highest-scoring such row: the
highest-scoring one of a group is kept. Only one cluster's embeddings are ever in one
place. Output: `semantic-<score file name>` per score file with one row per embedded
example (`offset`, `key`, `cluster`, `reason` = semantic_dup or null, `duplicate_of`
= "<score file name>/<key>" of the row it duplicates) and summary.json.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from webpairs.curation import rules, semantic
from webpairs.formats import files
from webpairs.pipelines.runtime import job
from webpairs.pipelines.score import score_files

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.semdedup"
SEMANTIC_DUP = rules.SEMANTIC_DUP
PREFIX = "semantic-"
SUMMARY_FILE = "summary.json"
SCHEMA = pa.schema([
    ("offset", pa.int64()),  # the example's position in its raw shard
    ("key", pa.string()),
    ("cluster", pa.int64()),
    ("reason", pa.string()),  # semantic_dup, or null when kept
    ("duplicate_of", pa.string()),  # "<score file name>/<key>" of the higher-scoring row it duplicates
])


def output_path(output_dir: str, score_file: str) -> str:
  return files.join(output_dir, PREFIX + posixpath.basename(score_file))


def verdict_path(semantic_dir: str, shard_path: str) -> str:
  """The verdict file of a raw shard: named after its score file (score_files.scores_path)."""
  return output_path(semantic_dir, score_files.scores_path("", shard_path))


def read_duplicates(semantic_dir: str, shard_path: str) -> set[tuple[int, str]] | None:
  """(offset, key) of the shard's rows marked semantic_dup; None when the shard has no verdict file."""
  path = verdict_path(semantic_dir, shard_path)
  if not files.exists(path):
    return None
  with files.open(path) as f:
    table = pq.read_table(f, columns=["offset", "key", "reason"])
  return {(r["offset"], r["key"]) for r in table.to_pylist() if r["reason"] == SEMANTIC_DUP}


def _read(path: str) -> dict[str, Any]:
  """The rows of a score file that have an image embedding: offsets, keys, scores, float32 embeddings."""
  with files.open(path) as f:
    table = pq.read_table(f, columns=["offset", "key", "score", "image_embedding"])
  table = table.filter(table.column("image_embedding").is_valid())
  n = table.num_rows
  emb = np.asarray(table.column("image_embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                   np.float32).reshape(n, -1) if n else np.zeros((0, 0), np.float32)
  return {"offset": table.column("offset").to_pylist(), "key": table.column("key").to_pylist(),
          "score": table.column("score").to_pylist(), "emb": emb}


def _smallest_hashes(path: str, k: int) -> list[tuple[int, list[float]]]:
  rows = _read(path)
  name = posixpath.basename(path)
  hashed = sorted((semantic.row_hash(name, key), i) for i, key in enumerate(rows["key"]))[:k]
  return [(h, rows["emb"][i].tolist()) for h, i in hashed]


def _initial_centroids(smallest: list[tuple[int, list[float]]], k: int) -> np.ndarray:
  if not smallest:
    raise ValueError("no score file holds image embeddings: run `curate score --embeddings`")
  picked = sorted(smallest)[:k]
  return semantic.normalise(np.asarray([e for _, e in picked], np.float32))


def _file_sums(path: str, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  return semantic.partial_sums(_read(path)["emb"], centroids)


class _SumPairs(beam.CombineFn):
  """Adds (int64 sums, int64 counts) pairs: exact, so any order gives the same total."""

  def create_accumulator(self):
    return None

  def add_input(self, acc, pair):
    return pair if acc is None else (acc[0] + pair[0], acc[1] + pair[1])

  def merge_accumulators(self, accs):
    out = None
    for a in accs:
      if a is not None:
        out = a if out is None else (out[0] + a[0], out[1] + a[1])
    return out

  def extract_output(self, acc):
    return acc


def _assign(path: str, centroids: np.ndarray) -> Iterator[tuple[int, tuple]]:
  rows = _read(path)
  name = posixpath.basename(path)
  for i, label in enumerate(semantic.assign(rows["emb"], centroids)):
    yield int(label), (name, rows["key"][i], rows["offset"][i], rows["score"][i], rows["emb"][i])


def _dedup_cluster(element: tuple[int, Any], threshold: float) -> Iterator[tuple[str, dict]]:
  cluster, members = element
  members = list(members)
  ids = [(m[0], m[1]) for m in members]
  emb = np.stack([m[4] for m in members])
  dup_of = semantic.cluster_duplicates(emb, [m[3] for m in members], ids, threshold)
  Metrics.counter(METRICS_NAMESPACE, SEMANTIC_DUP).inc(sum(d is not None for d in dup_of))
  for m, d in zip(members, dup_of, strict=True):
    yield m[0], {"offset": m[2], "key": m[1], "cluster": cluster, "reason": None if d is None else SEMANTIC_DUP,
                 "duplicate_of": None if d is None else f"{ids[d][0]}/{ids[d][1]}"}


class _WriteFn(beam.DoFn):
  def __init__(self, output_dir: str, meta: dict):
    self._output_dir = output_dir
    self._meta = meta

  def process(self, element: tuple[str, Any]) -> Iterator[dict[str, int]]:
    name, rows = element
    rows = sorted(rows, key=lambda r: (r["offset"], r["key"]))
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    table = table.replace_schema_metadata({b"webpairs": json.dumps(self._meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(files.join(self._output_dir, PREFIX + name), table)
    yield {"examples": len(rows), SEMANTIC_DUP: sum(r["reason"] is not None for r in rows)}


class SemanticDedup(beam.PTransform):
  """PCollection of score file paths (with embeddings) -> per-file counts; writes OUTPUT/semantic-<file> each."""

  def __init__(self, output_dir: str, *, clusters: int, threshold: float, iterations: int):
    super().__init__()
    if clusters < 1 or iterations < 0 or not -1.0 <= threshold <= 1.0:
      raise ValueError(f"need clusters >= 1, iterations >= 0, threshold in [-1, 1]; got {clusters}, {iterations}, "
                       f"{threshold}")
    self._output_dir = output_dir
    self._k = clusters
    self._threshold = threshold
    self._iterations = iterations

  def expand(self, paths):
    k = self._k
    centroids = (paths
                 | "SmallestHashes" >> beam.FlatMap(_smallest_hashes, k)
                 | "InitialRows" >> beam.combiners.ToList()
                 | "InitialCentroids" >> beam.Map(_initial_centroids, k))
    for it in range(self._iterations):
      sums = (paths
              | f"Sums{it}" >> beam.Map(_file_sums, beam.pvalue.AsSingleton(centroids))
              | f"Total{it}" >> beam.CombineGlobally(_SumPairs()).without_defaults())
      centroids = sums | f"Update{it}" >> beam.Map(lambda s, prev: semantic.update(s[0], s[1], prev),
                                                   beam.pvalue.AsSingleton(centroids))
    meta = {"clusters": k, "threshold": self._threshold, "iterations": self._iterations}
    return (paths
            | "Assign" >> beam.FlatMap(_assign, beam.pvalue.AsSingleton(centroids))
            | "ByCluster" >> beam.GroupByKey()
            | "Dedup" >> beam.FlatMap(_dedup_cluster, self._threshold)
            | "ByFile" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteFn(self._output_dir, meta)))


def run_semantic_dedup(scores_dir: str, output_dir: str, pipeline_args: list[str] | None = None, *,
                       clusters: int = 100, threshold: float = 0.95, iterations: int = 10) -> dict:
  """Runs the job over every score file of `scores_dir`; returns the summary it wrote to OUTPUT/summary.json."""
  paths = files.glob(files.join(scores_dir, f"{score_files.SCORES_PREFIX}*.parquet"))
  if not paths:
    raise FileNotFoundError(f"no {score_files.SCORES_PREFIX}*.parquet in {scores_dir}")
  run = job.Job("semdedup", output_dir, pipeline_args)  # no progress line: few files, several passes over them
  run.run(lambda pipeline: (
      pipeline
      | "Files" >> beam.Create(paths)
      | "SemDeDup" >> SemanticDedup(output_dir, clusters=clusters, threshold=threshold, iterations=iterations)
      | "Count" >> beam.CombineGlobally(lambda parts: {k: sum(p[k] for p in parts) for k in
                                                       ("examples", SEMANTIC_DUP)})
      | "Summary" >> beam.Map(lambda c: files.write_json_atomic(
          files.join(output_dir, SUMMARY_FILE),
          {"job": "semdedup", "scores_dir": scores_dir, "files": len(paths), "clusters": clusters,
           "threshold": threshold, "iterations": iterations, **c}))))
  return run.finish(SUMMARY_FILE)
