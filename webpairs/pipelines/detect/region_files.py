"""Region files of the detect job: one parquet per raw shard, read back by annotate's `--regions`.

`regions-<shard stem>-<hash of the shard path>.parquet` holds one row per example of the
shard: `offset`, `key`, `regions` (cleaned JSON list; null when the image could not be
decoded) and `error` (why there are no regions; null when the detector ran).
"""

from __future__ import annotations

import hashlib
import io
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq

from webpairs.formats import files

REGIONS_PREFIX = "regions-"
REGIONS_SCHEMA = pa.schema([
    ("offset", pa.int64()),  # position of the example in its raw shard
    ("key", pa.string()),
    ("regions", pa.string()),  # JSON list of {text, box}, "[]" when the detector found nothing
    ("error", pa.string()),  # reject reason of the image (curation/reasons.py), null when detected
])


def regions_path(output_dir: str, shard_path: str) -> str:
  """Deterministic region file of a raw shard: its stem plus a hash of its full path."""
  stem = posixpath.basename(shard_path).split(".")[0]
  digest = hashlib.blake2b(shard_path.encode("utf-8"), digest_size=4).hexdigest()
  return files.join(output_dir, f"{REGIONS_PREFIX}{stem}-{digest}.parquet")


def read_regions(output_dir: str, shard_path: str) -> tuple[dict[tuple[int, str], str | None], str] | None:
  """((offset, key) -> regions JSON or None, sha256 of the file) for a raw shard; None without a file."""
  path = regions_path(output_dir, shard_path)
  if not files.exists(path):
    return None
  with files.open(path) as f:
    data = f.read()
  table = pq.read_table(io.BytesIO(data), columns=["offset", "key", "regions"])
  rows = {(r["offset"], r["key"]): r["regions"] for r in table.to_pylist()}
  return rows, hashlib.sha256(data).hexdigest()
