"""Eval-set reference index by image embedding: a checkpoint's unit embeddings of an eval set's images, and lookup.

Where a perceptual hash misses crops, an embedding model that maps a crop near its
original finds them: `select` rejects a row whose image embedding (from `curate score
--embeddings` with the same checkpoint) has cosine above the threshold with any indexed
image, reason `eval_overlap:NAME`. The version is a content hash of the embeddings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pyarrow as pa

FORMAT = "webpairs.eval_embeddings/1"
_QUERY_BLOCK = 4096  # query rows per similarity block (bounds the [block, n] matrix)


@dataclasses.dataclass(frozen=True)
class EmbeddingIndex:
  name: str
  version: str
  embeddings: np.ndarray  # float32 [n, d], unit rows
  paths: tuple[str, ...]
  checkpoint: str = ""  # the `webpairs pretrain` workdir and step the embeddings came from

  def __len__(self) -> int:
    return len(self.paths)

  def describe(self) -> dict:
    return {"name": self.name, "version": self.version, "images": len(self), "format": FORMAT,
            "checkpoint": self.checkpoint}


def make_index(name: str, paths: list[str], embeddings: np.ndarray, checkpoint: str) -> EmbeddingIndex:
  emb = np.asarray(embeddings, np.float16).astype(np.float32)  # as stored: the version hashes what is kept
  order = np.argsort(np.asarray(paths, dtype=object), kind="stable")
  emb = emb[order]
  rows = sorted(row.tobytes() for row in emb.astype(np.float16))  # independent of file order and paths
  version = hashlib.sha256(b"".join(rows) + checkpoint.encode("utf-8")).hexdigest()[:12]
  return EmbeddingIndex(name, version, emb, tuple(paths[i] for i in order), checkpoint)


def to_table(index: EmbeddingIndex, extra: dict | None = None) -> pa.Table:
  emb = index.embeddings.astype(np.float16)
  column = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), pa.float16()), emb.shape[1])
  table = pa.table({"path": pa.array(index.paths, pa.string()), "embedding": column})
  meta = {"format": FORMAT, "name": index.name, "version": index.version, "checkpoint": index.checkpoint,
          **(extra or {})}
  return table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})


def is_embedding_table(table: pa.Table) -> bool:
  return "embedding" in table.column_names


def from_table(table: pa.Table) -> EmbeddingIndex:
  meta = json.loads((table.schema.metadata or {}).get(b"webpairs", b"{}"))
  if meta.get("format") != FORMAT:
    raise ValueError(f"not an eval embedding index (format {meta.get('format')!r}, want {FORMAT})")
  n = table.num_rows
  emb = np.asarray(table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                   np.float32).reshape(n, -1)
  return EmbeddingIndex(meta["name"], meta["version"], emb, tuple(table.column("path").to_pylist()),
                        meta.get("checkpoint", ""))


class EmbeddingMatcher:
  """Rows whose embedding has cosine above `threshold` with some indexed image."""

  def __init__(self, index: EmbeddingIndex, threshold: float):
    if not -1.0 <= threshold <= 1.0:
      raise ValueError(f"embedding threshold must be in [-1, 1], got {threshold}")
    self.index = index
    self.threshold = float(threshold)

  def match(self, embeddings: np.ndarray) -> np.ndarray:
    emb = np.asarray(embeddings, np.float32)
    out = np.zeros(len(emb), dtype=bool)
    if len(emb) == 0 or len(self.index) == 0:
      return out
    if emb.shape[1] != self.index.embeddings.shape[1]:
      raise ValueError(f"embeddings of width {emb.shape[1]} against an index of width "
                       f"{self.index.embeddings.shape[1]}: score and index with the same checkpoint")
    norm = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb / np.where(norm > 0, norm, 1)
    for start in range(0, len(emb), _QUERY_BLOCK):
      sims = emb[start:start + _QUERY_BLOCK] @ self.index.embeddings.T
      out[start:start + _QUERY_BLOCK] = (sims > self.threshold).any(axis=1)
    return out
