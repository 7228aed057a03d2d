"""Byte offsets of the image, caption and metadata members of each example of a webdataset tar, for random access."""

from __future__ import annotations

import dataclasses
import tarfile

import numpy as np

from webpairs.curation.example import split_key
from webpairs.formats import files
from webpairs.formats.images import IMAGE_EXTENSIONS

_NONE = -1


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

  webdataset layout: members of one example are adjacent and share the key (the name up
  to the first dot of the last path component). Examples missing an image, or missing
  both .txt and .json, are skipped and counted.
  """
  rows: list[tuple] = []
  skipped = 0
  key, members = None, {}

  def flush() -> None:
    nonlocal skipped
    if key is None:
      return
    image = next((members[e] for e in IMAGE_EXTENSIONS if e in members), None)
    text, meta = members.get("txt"), members.get("json")
    if image is None or (text is None and meta is None):
      skipped += 1
      return
    rows.append((key, *image, *(text or (_NONE, _NONE)), *(meta or (_NONE, _NONE))))

  with files.open(path) as f, tarfile.open(fileobj=f, mode="r:") as tar:
    for info in tar:
      if not info.isfile():
        continue
      parts = split_key(info.name)
      if parts is None:
        continue
      name, ext = parts
      if name != key:
        flush()
        key, members = name, {}
      members[ext] = (info.offset_data, info.size)
    flush()
  cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
  ints = [np.asarray(c, np.int64) for c in cols[1:]]
  return ShardIndex(path, np.asarray(cols[0], dtype=bytes) if rows else np.zeros(0, "S1"), *ints, skipped=skipped)
