"""Score files of the `curate score` job: one parquet per raw shard, read back by annotate's `--scores`.

`scores-<shard stem>-<hash of the shard path>.parquet` holds one row per example of the
shard: `offset`, `key`, `score` (the two-tower's pair logit t * cos + b), `score_sigmoid`,
`error` (why there is no score: annotate's reject reason, or the model's failure) and,
with `--embeddings`, `image_embedding` / `text_embedding` (float16, L2-normalised).
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webpairs.formats import files

SCORES_PREFIX = "scores-"
# The names annotate gives the joined score and its sigmoid in each row's `extra` JSON:
# `filters.score_column=extra.model_score`, `balance.utility=extra.model_score_sigmoid` (M4's u in [0, 1]).
EXTRA_FIELD = "model_score"
EXTRA_SIGMOID = "model_score_sigmoid"
BASE_FIELDS = [
    ("offset", pa.int64()),  # position of the example in its raw shard
    ("key", pa.string()),
    ("score", pa.float32()),  # t * cos(image, text) + b; null when `error` is set
    ("score_sigmoid", pa.float32()),  # sigmoid(score): the model's match probability
    ("error", pa.string()),  # why there is no score (curation/reasons.py or the job's reasons); null when scored
]
EMBEDDING_COLUMNS = ("image_embedding", "text_embedding")


def schema(embeddings: bool) -> pa.Schema:
  fields = list(BASE_FIELDS)
  if embeddings:
    fields += [(name, pa.list_(pa.float16())) for name in EMBEDDING_COLUMNS]
  return pa.schema(fields)


def scores_path(output_dir: str, shard_path: str) -> str:
  """Deterministic score file of a raw shard: its stem plus a hash of its full path."""
  stem = posixpath.basename(shard_path).split(".")[0]
  digest = hashlib.blake2b(shard_path.encode("utf-8"), digest_size=4).hexdigest()
  return files.join(output_dir, f"{SCORES_PREFIX}{stem}-{digest}.parquet")


def embedding_column(vectors: list[np.ndarray | None], dim: int) -> pa.Array:
  """float16 list column, null where a row has no vector."""
  present = [np.asarray(v, np.float16).reshape(dim) for v in vectors if v is not None]
  flat = np.concatenate(present) if present else np.zeros(0, np.float16)
  offsets, pos, mask = [0], 0, []
  for v in vectors:
    pos += 0 if v is None else dim
    offsets.append(pos)
    mask.append(v is None)
  return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.float16()),
                                  mask=pa.array(mask, pa.bool_()))


def read_scores(output_dir: str, shard_path: str
                ) -> tuple[dict[tuple[int, str], tuple[float, float] | None], str] | None:
  """((offset, key) -> (score, sigmoid) or None, sha256 of the file) for a raw shard; None without a file."""
  path = scores_path(output_dir, shard_path)
  if not files.exists(path):
    return None
  with files.open(path) as f:
    data = f.read()
  table = pq.read_table(io.BytesIO(data), columns=["offset", "key", "score", "score_sigmoid"])
  rows = {(r["offset"], r["key"]): None if r["score"] is None else (r["score"], r["score_sigmoid"])
          for r in table.to_pylist()}
  return rows, hashlib.sha256(data).hexdigest()


def join_scores(rows: list[dict], scores: dict[tuple[int, str], tuple[float, float] | None]) -> int:
  """Adds each annotation row's model score and sigmoid to its `extra` JSON (EXTRA_FIELD, EXTRA_SIGMOID); returns
  how many got one.

  A null score (annotate rejects the example, or the model failed) adds nothing, so
  `extra.model_score` reads as null there.
  """
  joined = 0
  for row in rows:
    value = scores.get((row["offset"], row["key"]))
    if value is None:
      continue
    extra = json.loads(row["extra"]) if row.get("extra") else {}
    extra[EXTRA_FIELD], extra[EXTRA_SIGMOID] = float(value[0]), float(value[1])
    row["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True, default=str)
    joined += 1
  return joined


def read_embedding_rows(output_dir: str, shard_path: str) -> dict[tuple[int, str], np.ndarray] | None:
  """(offset, key) -> float32 image embedding for a raw shard's embedded rows; None without a file with embeddings."""
  path = scores_path(output_dir, shard_path)
  if not files.exists(path):
    return None
  with files.open(path) as f:
    table = pq.read_table(io.BytesIO(f.read()))
  if "image_embedding" not in table.column_names:
    return None
  table = table.select(["offset", "key", "image_embedding"]).filter(table.column("image_embedding").is_valid())
  emb = np.asarray(table.column("image_embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                   np.float32).reshape(table.num_rows, -1)
  return {(o, k): emb[i] for i, (o, k) in enumerate(zip(table.column("offset").to_pylist(),
                                                        table.column("key").to_pylist()))}
