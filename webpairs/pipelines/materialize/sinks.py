"""Curated shard writers: a webdataset tar or a TFRecord file per shard, plus its parquet sidecar.

Writers stream into `files.atomic_output`, so a shard appears under its final name only
once it is complete, and fix every header field, so the same rows give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

from webpairs.formats import files
from webpairs.formats.curated import JSON_FIELDS, SIDECAR_SCHEMA, TFRECORD, WEBDATASET

# webdataset.TarWriter's member attributes with a fixed mtime: reruns are byte-identical.
TAR_MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z
TAR_USER = "bigdata"
TAR_MODE = 0o444

# Detected image format (annotate's image_format) -> member extension, as img2dataset and webdataset name them.
_EXT_BY_FORMAT = {"jpeg": "jpg", "mpo": "jpg", "png": "png", "webp": "webp", "gif": "gif", "bmp": "bmp",
                  "tiff": "tif"}
_FORMAT_BY_EXT = {"jpg": "jpeg", "jpeg": "jpeg", "tif": "tiff", "tiff": "tiff"}


def extension_for(image_format: str | None, member_ext: str) -> str:
  """The curated member extension for bytes of `image_format`; the raw member's when unknown."""
  return _EXT_BY_FORMAT.get((image_format or "").lower(), member_ext)


def format_name(ext: str) -> str:
  """TFRecord `image/format` of an image member extension: jpeg, png, webp, gif, bmp, tiff."""
  return _FORMAT_BY_EXT.get(ext, ext)


def json_member(row: dict[str, Any]) -> dict[str, Any]:
  """The `{key}.json` fields of a sidecar row: `regions` as the list itself, [] when none.

  `extra` fields (DataComp `uid`, scores) sit at the top level, as in img2dataset's .json;
  on a name clash webpairs' own field wins.
  """
  meta = {k: row[k] for k in JSON_FIELDS}
  meta["regions"] = json.loads(meta["regions"]) if meta["regions"] else []
  extra = json.loads(row["extra"]) if row.get("extra") else {}
  return {**{k: v for k, v in extra.items() if k not in meta}, **meta}


class _HashingStream:
  """Write-only wrapper that counts and hashes what passes through."""

  def __init__(self, raw: BinaryIO):
    self._raw = raw
    self._sha = hashlib.sha256()
    self.nbytes = 0

  def write(self, data: bytes) -> int:
    self._sha.update(data)
    self.nbytes += len(data)
    self._raw.write(data)
    return len(data)

  def hexdigest(self) -> str:
    return self._sha.hexdigest()


class TarShardWriter:
  """webdataset tar: `{key}.{image ext}`, `{key}.json` and `{key}.txt` per example."""

  def __init__(self, stream: _HashingStream):
    # PAX is tarfile's default and webdataset's; it only adds headers for long names.
    self._tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)

  def _member(self, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = TAR_MTIME
    info.mode = TAR_MODE
    info.uname = info.gname = TAR_USER
    self._tar.addfile(info, io.BytesIO(data))

  def add(self, row: dict[str, Any], image: bytes) -> int:
    """Writes the example's members; returns the offset of the image bytes in the file."""
    members = {
        row["image_ext"]: image,
        "json": json.dumps(json_member(row), ensure_ascii=False).encode("utf-8"),
        "txt": row["caption"].encode("utf-8"),
    }
    image_offset = 0
    for ext in sorted(members):  # the order webdataset.TarWriter uses
      self._member(f"{row['key']}.{ext}", members[ext])
      if ext == row["image_ext"]:
        # tarfile's offset is past the data and its padding to whole 512-byte blocks.
        image_offset = self._tar.offset - -(-len(image) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return image_offset

  def close(self) -> None:
    self._tar.close()

  def cleanup(self) -> None:
    pass


def _tensorflow():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ImportError("--format tfrecord needs TensorFlow: pip install 'webpairs[tfrecord]'") from e
  return tf


def tf_example(row: dict[str, Any], image: bytes) -> bytes:
  """A serialized `tf.train.Example` with big_vision-style feature names."""
  tf = _tensorflow()

  def text(value: str | None) -> Any:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[(value or "").encode("utf-8")]))

  def integer(value: int | None) -> Any:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value or 0]))

  features = {
      "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
      "image/format": text(format_name(row["image_ext"])),
      "image/width": integer(row["width"]),
      "image/height": integer(row["height"]),
      "text": text(row["caption"]),
      "key": text(row["key"]),
      "lang": text(row["lang"]),
      "regions": text(row.get("regions") or "[]"),  # JSON list of {text, box}
      "extra": text(row.get("extra") or "{}"),  # JSON object: DataComp uid, scores, ...
  }
  example = tf.train.Example(features=tf.train.Features(feature=features))
  return example.SerializeToString(deterministic=True)  # map entries sorted by name


class TFRecordShardWriter:
  """One `tf.train.Example` per example, CRC-framed by TensorFlow's own writer."""

  def __init__(self, stream: _HashingStream):
    tf = _tensorflow()
    # TFRecordWriter wants a path: write a local file, then copy it into the atomic stream.
    self._dir = tempfile.mkdtemp(prefix="webpairs-tfrecord-")
    self._path = os.path.join(self._dir, "shard.tfrecord")
    self._writer = tf.io.TFRecordWriter(self._path)
    self._stream = stream
    self._offset = 0

  def add(self, row: dict[str, Any], image: bytes) -> int:
    """Writes the example's record; returns the offset of the image bytes in the file."""
    record = tf_example(row, image)
    self._writer.write(record)
    # A record is: length (8 bytes), its CRC (4), the Example, the Example's CRC (4). The
    # image is a bytes field of the Example, stored verbatim.
    image_offset = self._offset + 12 + record.find(image)
    self._offset += 16 + len(record)
    return image_offset

  def close(self) -> None:
    self._writer.close()
    with open(self._path, "rb") as f:
      shutil.copyfileobj(f, self._stream, 1 << 20)

  def cleanup(self) -> None:
    shutil.rmtree(self._dir, ignore_errors=True)


_WRITERS = {WEBDATASET: TarShardWriter, TFRECORD: TFRecordShardWriter}


class ShardFile:
  """What a finished data file holds: its size and sha256."""

  def __init__(self):
    self.nbytes = 0
    self.sha256 = ""


@contextlib.contextmanager
def open_shard(path: str, fmt: str) -> Iterator[tuple[TarShardWriter | TFRecordShardWriter, ShardFile]]:
  """(writer, result): `writer.add(row, image)` per example; `result` is filled on a clean exit."""
  if fmt not in _WRITERS:
    raise ValueError(f"unknown shard format {fmt!r}; expected one of {sorted(_WRITERS)}")
  result = ShardFile()
  with files.atomic_output(path) as raw:
    stream = _HashingStream(raw)
    writer = _WRITERS[fmt](stream)
    try:
      yield writer, result
      writer.close()
    finally:
      writer.cleanup()
  result.nbytes, result.sha256 = stream.nbytes, stream.hexdigest()


def sidecar_table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> pa.Table:
  """The sidecar of a shard; `meta` goes into the parquet footer (how resume knows a shard is done)."""
  table = pa.Table.from_pylist(rows, schema=SIDECAR_SCHEMA)
  return table.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
