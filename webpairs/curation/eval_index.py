"""Eval-set reference index: perceptual hashes of an evaluation set's images, and exact lookup.

Images are hashed exactly as the annotate pass hashes them (curation/image.py), so an
eval image that was crawled into the pool matches its annotation row. The version is
a content hash of the hashes, so a selection records which index it removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pyarrow as pa

from webpairs.curation import dedup, hashes, image, reasons

FORMAT = "webpairs.eval_index/1"  # phash + dhash, imagehash layout, annotate's reduced decode
SCHEMA = pa.schema([("path", pa.string()), ("phash", pa.string()), ("dhash", pa.string())])
_QUERY_BLOCK = 2048  # query rows per vectorised lookup step (bounds candidate arrays)


@dataclasses.dataclass(frozen=True)
class EvalIndex:
  name: str
  version: str
  phash: np.ndarray  # (n,) uint64
  dhash: np.ndarray  # (n,) uint64
  paths: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.paths)

  def describe(self) -> dict:
    return {"name": self.name, "version": self.version, "images": len(self), "format": FORMAT}


def hash_image(data: bytes) -> tuple[int, int] | tuple[str, str]:
  """(phash, dhash) of image bytes as annotate computes them, or (reason, detail) when undecodable."""
  info = image.inspect_image(data)
  if info.status != reasons.OK:
    return info.status, info.detail
  p = hashes.phash_batch(info.phash_pixels[None])[0]
  d = hashes.dhash_batch(info.dhash_pixels[None])[0]
  return int(p), int(d)


def version_of(phash: np.ndarray, dhash: np.ndarray) -> str:
  """Content hash of the set of (phash, dhash) pairs: independent of file order and paths."""
  pairs = np.unique(np.stack([np.asarray(phash, np.uint64), np.asarray(dhash, np.uint64)], axis=1), axis=0)
  digest = hashlib.blake2b(FORMAT.encode() + pairs.astype(">u8").tobytes(), digest_size=8)
  return digest.hexdigest()


def check_name(name: str) -> None:
  if not name or not all(c.isalnum() or c in "-_." for c in name):
    raise ValueError(f"eval index name {name!r}: use letters, digits, '-', '_' or '.'")


def make_index(name: str, paths: list[str], phash: list[int], dhash: list[int]) -> EvalIndex:
  check_name(name)
  order = np.argsort(np.array(paths, dtype=object), kind="stable") if paths else np.zeros(0, np.int64)
  p = np.array(phash, dtype=np.uint64)[order]
  d = np.array(dhash, dtype=np.uint64)[order]
  return EvalIndex(name, version_of(p, d), p, d, tuple(paths[i] for i in order))


def to_table(index: EvalIndex, extra: dict | None = None) -> pa.Table:
  """The index as a parquet-ready table; name, version and format in its metadata."""
  meta = dict(index.describe(), **(extra or {}))
  table = pa.table({
      "path": list(index.paths),
      "phash": hashes.to_hex(index.phash),
      "dhash": hashes.to_hex(index.dhash),
  }, schema=SCHEMA)
  return table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})


def from_table(table: pa.Table) -> EvalIndex:
  meta = json.loads((table.schema.metadata or {}).get(b"webpairs", b"{}"))
  if meta.get("format") != FORMAT:
    raise ValueError(f"not an eval index of format {FORMAT} (metadata: {meta})")
  p, p_ok = dedup.hex_u64(table.column("phash").to_pylist())
  d, d_ok = dedup.hex_u64(table.column("dhash").to_pylist())
  if not (p_ok.all() and d_ok.all()):
    raise ValueError(f"eval index {meta.get('name')!r} has malformed hashes")
  index = EvalIndex(meta["name"], meta["version"], p, d, tuple(table.column("path").to_pylist()))
  if version_of(p, d) != index.version:
    raise ValueError(f"eval index {index.name!r}: content does not match version {index.version}")
  return index


def _chunks(threshold: int) -> list[tuple[int, int]]:
  """(shift, mask) of threshold + 1 near-equal bit chunks of a 64-bit hash."""
  n = min(threshold + 1, dedup.HASH_BITS)
  widths = [dedup.HASH_BITS // n + (1 if i < dedup.HASH_BITS % n else 0) for i in range(n)]
  out, end = [], dedup.HASH_BITS
  for w in widths:
    out.append((end - w, (1 << w) - 1))
    end -= w
  return out


class Matcher:
  """Exact "any index image within the threshold" lookup (multi-index hashing).

  The phash is cut into threshold + 1 chunks: a pair within the threshold differs in
  at most `threshold` bits, so one chunk is identical (pigeonhole) and every match is
  found. Candidates come from sorted chunk values, then the full rule is checked.
  """

  def __init__(self, index: EvalIndex, threshold: int):
    self.threshold = int(threshold)
    self._p = index.phash
    self._d = index.dhash
    self._chunks = []
    for shift, mask in _chunks(self.threshold):
      values = (self._p >> np.uint64(shift)) & np.uint64(mask)
      order = np.argsort(values, kind="stable")
      self._chunks.append((shift, mask, values[order], order))

  def match(self, phash: np.ndarray, dhash: np.ndarray) -> np.ndarray:
    """(n,) bool: row i is within the threshold of some index image."""
    phash = np.asarray(phash, np.uint64)
    dhash = np.asarray(dhash, np.uint64)
    out = np.zeros(len(phash), dtype=bool)
    if not len(self._p):
      return out
    for start in range(0, len(phash), _QUERY_BLOCK):
      qp, qd = phash[start:start + _QUERY_BLOCK], dhash[start:start + _QUERY_BLOCK]
      hit = np.zeros(len(qp), dtype=bool)
      for shift, mask, sorted_values, order in self._chunks:
        q = (qp >> np.uint64(shift)) & np.uint64(mask)
        lo = np.searchsorted(sorted_values, q, "left")
        counts = np.searchsorted(sorted_values, q, "right") - lo
        total = int(counts.sum())
        if not total:
          continue
        rows = np.repeat(np.arange(len(q)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = order[np.repeat(lo, counts) + offsets]
        near = dedup.is_near(hashes.hamming(qp[rows], self._p[cand]), hashes.hamming(qd[rows], self._d[cand]),
                             self.threshold)
        hit[rows[near]] = True
      out[start:start + _QUERY_BLOCK] = hit
    return out
