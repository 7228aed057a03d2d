"""Curated shards: their file names and sidecar columns; find the webdataset tars, walk their examples, index member
offsets, read members by offset.

The one reader of the trainer input, the tokenizer and the curated eval set. webdataset
layout: the members of one example are adjacent and share the key (the name up to the
first dot of the last path component).
"""

from __future__ import annotations

import dataclasses
import os
import tarfile
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import re

import numpy as np
import pyarrow as pa

from webpairs.formats.raw import image_extension, split_key
from webpairs.formats import files

TAR_SUFFIX = ".tar"
_NONE = -1
# What `materialize` writes in OUT: PREFIX-NNNNN.{tar,tfrecord} data files, a PREFIX-NNNNN.parquet sidecar each,
# sizes.json and, once the run has finished, manifest.json.
WEBDATASET = "webdataset"
TFRECORD = "tfrecord"
DATA_EXTENSIONS = {WEBDATASET: "tar", TFRECORD: "tfrecord"}
SHARD_DIGITS = 5
MANIFEST_FILE = "manifest.json"
# open_clip / img2dataset convention: {shard file name: examples}, so loaders need no --train-num-samples.
SIZES_FILE = "sizes.json"

# One row per written example. The .json member holds the same fields but image_offset.
SIDECAR_SCHEMA = pa.schema([
    ("key", pa.string()),  # key in the curated shard (unique over the whole output)
    ("caption", pa.string()),
    ("lang", pa.string()),
    ("url", pa.string()),
    ("width", pa.int32()),  # of the image as written
    ("height", pa.int32()),
    ("sha256", pa.string()),  # of the image bytes as written
    ("image_ext", pa.string()),  # extension of the image member: jpg, png, webp, ...
    ("image_bytes", pa.int64()),
    ("source", pa.string()),  # raw shard path
    ("offset", pa.int64()),  # position in the raw shard
    ("source_key", pa.string()),  # key in the raw shard
    ("copy", pa.int32()),  # 0 for the first copy, 1.. for up-sampled repeats
    ("cluster_id", pa.string()),  # duplicate cluster from the selection
    ("regions", pa.string()),  # JSON list of {text, box: [ymin, xmin, ymax, xmax]} on the image as written; null: none
    ("original_width", pa.int32()),  # before --resize
    ("original_height", pa.int32()),
    ("image_offset", pa.int64()),  # where the image bytes start in the data file: random access by seek
    ("extra", pa.string()),  # the raw .json's other fields (DataComp uid, scores, ...) as a JSON object; null: none
])
JSON_FIELDS = [name for name in SIDECAR_SCHEMA.names if name not in ("image_offset", "extra")]


def shard_stem(prefix: str, index: int) -> str:
  return f"{prefix}-{index:0{SHARD_DIGITS}d}"


def shard_name_pattern(prefix: str) -> re.Pattern:
  """Matches the file names `materialize` writes for `prefix` (data files and sidecars)."""
  return re.compile(rf"^{re.escape(prefix)}-[0-9]{{{SHARD_DIGITS},}}\.(tar|tfrecord|parquet)$")


def _glob(pattern: str) -> list[str]:
  if files.isdir(pattern):
    pattern = files.join(pattern.rstrip("/"), "*" + TAR_SUFFIX)
  return files.glob(pattern)


def expand(patterns: str | Sequence[str]) -> list[str]:
  """Sorted, de-duplicated .tar files for comma-separated globs or folders of curated shards."""
  if isinstance(patterns, str):
    patterns = [p for p in patterns.split(",") if p.strip()]
  found: set[str] = set()
  for pattern in patterns:
    found.update(p for p in _glob(pattern.strip()) if p.endswith(TAR_SUFFIX))
  if not found:
    raise FileNotFoundError(f"no curated shards (.tar) match {', '.join(patterns) or '(nothing)'}")
  return sorted(found)


def iter_examples(tar: tarfile.TarFile, read: Collection[str] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
  """(key, {extension: TarInfo, or the member's bytes for extensions in `read`}) per example, in tar order.

  Members are read as they are met, so a compressed tar is never sought backwards.
  """
  key, members = None, {}
  for info in tar:
    if not info.isfile():
      continue
    parts = split_key(info.name)
    if parts is None:
      continue
    name, ext = parts
    if name != key:
      if key is not None:
        yield key, members
      key, members = name, {}
    members[ext] = tar.extractfile(info).read() if ext in read else info
  if key is not None:
    yield key, members


@dataclasses.dataclass(frozen=True)
class ShardIndex:
  """One shard's examples in tar order. Offsets/sizes are -1 where the member is absent."""

  path: str
  keys: np.ndarray  # bytes [n]
  image_offset: np.ndarray  # int64 [n]
  image_size: np.ndarray  # int64 [n]
  text_offset: np.ndarray  # int64 [n]: the .txt member
  text_size: np.ndarray
  json_offset: np.ndarray  # int64 [n]: the .json member, for captions without .txt
  json_size: np.ndarray
  skipped: int  # examples without an image or without any caption member

  def __len__(self) -> int:
    return len(self.keys)


def index_tar(path: str) -> ShardIndex:
  """Reads only the tar headers (tarfile seeks over member data).

  Examples missing an image, or missing both .txt and .json, are skipped and counted.
  """
  rows: list[tuple] = []
  skipped = 0
  with files.open(path) as f, tarfile.open(fileobj=f, mode="r:") as tar:
    for key, members in iter_examples(tar):
      spans = {ext: (info.offset_data, info.size) for ext, info in members.items()}
      image = spans.get(image_extension(spans))
      text, meta = spans.get("txt"), spans.get("json")
      if image is None or (text is None and meta is None):
        skipped += 1
        continue
      rows.append((key, *image, *(text or (_NONE, _NONE)), *(meta or (_NONE, _NONE))))
  cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
  ints = [np.asarray(c, np.int64) for c in cols[1:]]
  return ShardIndex(path, np.asarray(cols[0], dtype=bytes) if rows else np.zeros(0, "S1"), *ints, skipped=skipped)


class MemberReader:
  """Member bytes by (shard, offset, size) from a list of shard files, safe to call from many threads.

  Reads must not share a file position: local files use pread on one descriptor each,
  other filesystems one handle per thread and shard. Pickles without its open files, so a
  copy in another process opens its own.
  """

  def __init__(self, paths: Sequence[str]):
    self.paths = list(paths)
    self._fds: dict[int, int] = {}
    self._local = threading.local()
    self._lock = threading.Lock()

  def __getstate__(self) -> dict[str, Any]:
    return {"paths": self.paths}

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__init__(state["paths"])

  def __del__(self) -> None:
    for fd in getattr(self, "_fds", {}).values():
      os.close(fd)

  def read(self, shard: int, offset: int, size: int) -> bytes:
    path = self.paths[shard]
    if files.is_remote(path):
      handles = self._local.__dict__.setdefault("handles", {})
      if shard not in handles:
        handles[shard] = files.open(path)
      handles[shard].seek(offset)
      return handles[shard].read(size)
    fd = self._fds.get(shard)
    if fd is None:
      with self._lock:
        fd = self._fds.get(shard)
        if fd is None:
          fd = self._fds[shard] = os.open(path, os.O_RDONLY)
    data = os.pread(fd, size, offset)
    if len(data) != size:
      raise OSError(f"{path}: short read at byte {offset} ({len(data)} of {size}); was the shard rewritten?")
    return data
