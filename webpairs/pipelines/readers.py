"""Raw-shard readers: webdataset tars and img2dataset parquet, through Beam's filesystems.

Readers never decode and never raise on bad data: a broken shard yields the examples
before the break plus one reject row for the break, so every example keeps its row.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import tarfile
from collections.abc import Iterable, Iterator

from apache_beam.io.filesystems import FileSystems

from webpairs.curation import reasons
from webpairs.curation.example import RawExample, split_key
from webpairs.pipelines import img2dataset

log = logging.getLogger(__name__)

# 512 MiB: far above any real image or caption, small enough to keep a worker alive.
DEFAULT_MAX_MEMBER_BYTES = 512 << 20
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
PARQUET_SUFFIXES = (".parquet",)
# img2dataset parquet columns, first match wins.
_PARQUET_IMAGE_COLUMNS = ("jpg", "jpeg", "png", "webp", "image")
_PARQUET_CAPTION_COLUMNS = ("caption", "TEXT", "text")
_PARQUET_URL_COLUMNS = ("url", "URL")
_PARQUET_REGIONS_COLUMN = "regions"  # JSON text or list<struct<text, box>>; annotate cleans it


def shard_kind(path: str) -> str:
  lower = path.lower()
  if lower.endswith(TAR_SUFFIXES):
    return "tar"
  if lower.endswith(PARQUET_SUFFIXES):
    return "parquet"
  raise ValueError(f"{path}: not a raw shard (expected one of {TAR_SUFFIXES + PARQUET_SUFFIXES})")


def resolve_pattern(pattern: str) -> str:
  """A local path or glob made absolute (a selection made here must work from any folder); URLs as given."""
  return pattern if "://" in pattern else os.path.abspath(os.path.expanduser(pattern))


def match_shards(patterns: str | Iterable[str]) -> list[str]:
  """Sorted absolute shard paths matching comma-separated globs (any Beam filesystem).

  img2dataset's `NNNNN.parquet` beside a matched `NNNNN.tar` is that tar's metadata, not a shard.
  """
  if isinstance(patterns, str):
    patterns = [p for p in patterns.split(",") if p]
  patterns = [resolve_pattern(p) for p in patterns]
  paths: set[str] = set()
  for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
    found = [m.path for m in result.metadata_list]
    if not found:
      raise FileNotFoundError(f"no files match {pattern!r}")
    paths.update(found)
  shards = img2dataset.drop_sidecars(sorted(p for p in paths if p.lower().endswith(TAR_SUFFIXES + PARQUET_SUFFIXES)))
  if not shards:
    raise FileNotFoundError(f"{list(patterns)} matched no .tar or .parquet shards")
  return shards


def read_shard(path: str, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> Iterator[RawExample]:
  """All examples of one shard, in shard order, reject rows included."""
  try:
    kind = shard_kind(path)
    handle = FileSystems.open(path)
  except Exception as e:  # pylint: disable=broad-except
    yield _shard_error(path, 0, reasons.UNREADABLE_SHARD, f"cannot open: {e}")
    return
  next_offset = 0
  with handle:
    if kind == "tar":
      for example in _read_tar(path, handle, max_member_bytes):
        next_offset = example.offset + 1
        yield example
    else:
      yield from _read_parquet(path, handle)
  if kind == "tar":
    # URLs img2dataset tried and failed are only in its parquet beside the tar: rows after the tar's.
    yield from img2dataset.failed_downloads(path, next_offset)


def _shard_error(path: str, offset: int, reason: str, detail: str, key: str | None = None) -> RawExample:
  return RawExample(key=key or f"{_stem(path)}@{reason}", source=path, offset=offset, read_error=reason, read_detail=detail)


def _read_tar(path: str, handle, max_member_bytes: int) -> Iterator[RawExample]:
  offset = 0
  current: RawExample | None = None
  try:
    tar = tarfile.open(fileobj=handle, mode="r|*")
  except (tarfile.TarError, OSError, EOFError) as e:
    yield _shard_error(path, 0, reasons.UNREADABLE_SHARD, f"not a tar archive: {e}")
    return
  try:
    for info in tar:
      if not info.isfile():
        continue
      parts = split_key(info.name)
      if parts is None:
        log.warning("%s: member %r has no extension; not part of any example", path, info.name)
        continue
      key, ext = parts
      if current is None or current.key != key or ext in current.members:
        if current is not None:
          yield current
          offset += 1
        current = RawExample(key=key, source=path, offset=offset)
      if info.size > max_member_bytes:
        current.read_error = current.read_error or reasons.OVERSIZED_MEMBER
        current.read_detail = current.read_detail or f"{info.name}: {info.size} bytes > {max_member_bytes}"
        continue
      member = tar.extractfile(info)
      current.members[ext] = member.read() if member is not None else b""
  except (tarfile.TarError, OSError, EOFError, ValueError) as e:
    # A member's data or a header ended early: the example being read is cut.
    if current is not None:
      current.read_error = reasons.TRUNCATED_TAR
      current.read_detail = f"tar ends inside example {current.key!r}: {e}"
      yield current
    else:
      yield _shard_error(path, offset, reasons.BROKEN_TAR, f"unreadable tar header: {e}")
    return
  if current is not None:
    yield current
    offset += 1
  # tarfile stops silently at a garbage or cut header; only the end-of-archive marker
  # (zero blocks) means the shard was read whole.
  problem = _tar_end_problem(handle, tar.offset)
  if problem:
    yield _shard_error(path, offset, reasons.BROKEN_TAR, problem, key=f"{_stem(path)}@{tar.offset}")


def _tar_end_problem(handle, end_offset: int) -> str | None:
  seekable = handle.seekable  # a method on plain files, a property on Beam's CompressedFile
  try:
    if not (seekable() if callable(seekable) else seekable):
      return None
    # On compressed shards this seek re-reads the stream: the price of not losing a tail.
    handle.seek(end_offset)
    block = handle.read(512)
  except (OSError, ValueError):
    return None  # compressed or streaming input: trust tarfile
  if len(block) == 512 and not any(block):
    return None
  if not block:
    return f"archive ends at byte {end_offset} without an end-of-archive marker (cut short?)"
  return f"invalid tar header at byte {end_offset}; the rest of the shard is unreadable"


def _stem(path: str) -> str:
  return posixpath.basename(path).split(".")[0]


def _first_column(names: list[str], candidates: tuple[str, ...]) -> str | None:
  return next((c for c in candidates if c in names), None)


def _read_parquet(path: str, handle) -> Iterator[RawExample]:
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

  try:
    pfile = pq.ParquetFile(handle)
  except Exception as e:  # pylint: disable=broad-except
    yield _shard_error(path, 0, reasons.UNREADABLE_SHARD, f"not a parquet file: {e}")
    return
  names = pfile.schema_arrow.names
  image_col = _first_column(names, _PARQUET_IMAGE_COLUMNS)
  caption_col = _first_column(names, _PARQUET_CAPTION_COLUMNS)
  url_col = _first_column(names, _PARQUET_URL_COLUMNS)
  ext = "jpg" if image_col in (None, "image", "jpeg") else image_col
  if image_col is None and "status" in names:
    # Every row will be missing_image: say why once, not 10,000 times.
    log.warning("%s looks like img2dataset's metadata beside a tar (status column, no image bytes); its rows "
                "have no images: give the tars (e.g. 'dir/*' or 'dir/*.tar') instead", path)
  offset = 0
  stem = _stem(path)
  try:
    for batch in pfile.iter_batches(batch_size=512):
      for row in batch.to_pylist():
        key = str(row["key"]) if row.get("key") is not None else f"{stem}{offset:09d}"
        example = RawExample(key=key, source=path, offset=offset)
        failure = img2dataset.download_failure(row)
        if failure is not None:
          example.read_error, example.read_detail = reasons.DOWNLOAD_FAILED, failure
        if image_col and row.get(image_col) is not None:
          example.members[ext] = bytes(row[image_col])
        caption = row.get(caption_col) if caption_col else None
        if caption is not None:
          # A binary caption column keeps its raw bytes: invalid UTF-8 is judged by annotate.
          example.members["txt"] = caption.encode("utf-8") if isinstance(caption, str) else bytes(caption)
        meta = {k: v for k, v in row.items() if k != image_col and _is_json_scalar(v)}
        if url_col:
          meta["url"] = row.get(url_col)
        if isinstance(row.get(_PARQUET_REGIONS_COLUMN), (list, tuple)):
          meta[_PARQUET_REGIONS_COLUMN] = row[_PARQUET_REGIONS_COLUMN]
        # Values JSON cannot hold (bytes inside a regions struct) become null: annotate drops them.
        example.members["json"] = json.dumps(meta, ensure_ascii=False, default=_no_json).encode("utf-8")
        yield example
        offset += 1
  except Exception as e:  # pylint: disable=broad-except
    yield _shard_error(path, offset, reasons.UNREADABLE_SHARD, f"parquet read failed after {offset} rows: {e}")


def _no_json(value) -> None:
  del value


def _is_json_scalar(value) -> bool:
  return value is None or isinstance(value, (str, int, float, bool))
