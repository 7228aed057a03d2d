"""Raw-shard readers: webdataset tars and img2dataset parquet, through Beam's filesystems.

Readers never decode and never raise on bad data: a broken shard yields the examples
before the break plus one reject row for the break, so every example keeps its row.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from webpairs.curation import reasons
from webpairs.formats.raw import RawExample, split_key
from webpairs.formats import files
from webpairs.pipelines.raw import img2dataset

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
# Magic bytes -> a decompressing file whose read(n) inflates at most n bytes at a time.
# The magic is matched in full (gzip with deflate; bzip2 with its block header), so that a
# plain tar whose first member is named "BZh..." stays a plain tar.
_COMPRESSED_TARS = (
    (re.compile(rb"\x1f\x8b\x08"), lambda f: gzip.GzipFile(fileobj=f, mode="rb")),
    (re.compile(rb"BZh[1-9]\x31\x41\x59\x26\x53\x59"), bz2.BZ2File),
    (re.compile(rb"\xfd7zXZ\x00"), lzma.LZMAFile),
)


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
  """Sorted absolute shard paths matching comma-separated globs (any fsspec filesystem).

  img2dataset's `NNNNN.parquet` beside a matched `NNNNN.tar` is that tar's metadata, not a shard.
  """
  if isinstance(patterns, str):
    patterns = [p for p in patterns.split(",") if p]
  patterns = [resolve_pattern(p) for p in patterns]
  paths: set[str] = set()
  for pattern in patterns:
    found = files.glob(pattern)
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
    # Never Beam's own decompression: it inflates a whole read chunk at once, so a 10 MB
    # gzip of zeros becomes gigabytes in memory before any size check (see _open_tar).
    handle = files.open(path)
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
      yield from _read_parquet(path, handle, max_member_bytes)
  if kind == "tar":
    # URLs img2dataset tried and failed are only in its parquet beside the tar: rows after the tar's.
    yield from img2dataset.failed_downloads(path, next_offset)


def _shard_error(path: str, offset: int, reason: str, detail: str, key: str | None = None) -> RawExample:
  return RawExample(key=f"{_stem(path)}@{reason}" if key is None else key, source=path, offset=offset, read_error=reason, read_detail=detail)


# Rows of an unreadable parquet row group that get a row each (the count is the footer's word).
MAX_LOST_PARQUET_ROWS = 1 << 20
# Long-name and pax headers are read whole by tarfile: a few hundred bytes in real shards.
MAX_EXTENDED_HEADER_BYTES = 1 << 20
_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                     tarfile.SOLARIS_XHDTYPE)


class _OversizedHeader(tarfile.HeaderError):
  pass


class _BoundedTarInfo(tarfile.TarInfo):
  """A TarInfo that refuses to read an extended header larger than MAX_EXTENDED_HEADER_BYTES.

  tarfile holds such a header whole (twice over) before parsing it: a 2 GiB pax header
  of zeros would cost 4 GiB.
  """

  def _proc_member(self, tar):
    if self.type in _EXTENDED_HEADERS and self.size > MAX_EXTENDED_HEADER_BYTES:
      raise _OversizedHeader(f"extended header {self.name!r} of {self.size} bytes at byte {self.offset} "
                             f"> {MAX_EXTENDED_HEADER_BYTES}; the rest of the shard is not read")
    return super()._proc_member(tar)


def _open_tar(handle):
  """(tarfile in stream mode, the stream it reads): gzip, bzip2 and xz are inflated as read.

  The decompressing files of the standard library inflate at most the bytes asked for,
  and tarfile reads (and skips oversized members) in 10 KiB records: memory stays
  bounded whatever the compression ratio.
  """
  head = handle.peek(16)[:16] if hasattr(handle, "peek") else _read_head(handle)
  stream = handle
  for magic, opener in _COMPRESSED_TARS:
    if magic.match(head):
      stream = opener(handle)
      break
  return tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo), stream


def _read_head(handle) -> bytes:
  head = handle.read(16)
  handle.seek(0)
  return head


def _read_tar(path: str, handle, max_member_bytes: int) -> Iterator[RawExample]:
  offset = 0
  current: RawExample | None = None
  seen: set[str] = set()  # extensions of the current example, read or not
  try:
    tar, handle = _open_tar(handle)
  except _OversizedHeader as e:
    yield _shard_error(path, 0, reasons.BROKEN_TAR, str(e))
    return
  except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error) as e:
    yield _shard_error(path, 0, reasons.UNREADABLE_SHARD, f"not a tar archive: {e}")
    return
  try:
    for info in tar:
      if info.isdir():
        continue  # a folder entry names no example (tar cf x.tar dir/ writes one)
      key, ext = _member_key(info.name)
      # webdataset's grouping, by names alone: a new key, or an extension seen again.
      if current is None or current.key != key or ext in seen:
        if current is not None:
          yield current
          offset += 1
        current = RawExample(key=key, source=path, offset=offset)
        seen = set()
      if ext is not None:
        seen.add(ext)
      if not info.isfile():
        # Links and devices are never read; the key still gets its row.
        current.skipped.append(info.name)
        continue
      if ext is None:
        current.skipped.append(info.name)
        continue
      if info.size > max_member_bytes:
        current.read_error = current.read_error or reasons.OVERSIZED_MEMBER
        current.read_detail = current.read_detail or f"{info.name}: {info.size} bytes > {max_member_bytes}"
        continue
      member = tar.extractfile(info)
      current.members[ext] = member.read() if member is not None else b""
  except _OversizedHeader as e:
    if current is not None:  # complete: the header belongs to the next member
      yield current
      offset += 1
    yield _shard_error(path, offset, reasons.BROKEN_TAR, str(e), key=f"{_stem(path)}@{reasons.BROKEN_TAR}")
    return
  except (tarfile.TarError, OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as e:
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


def _member_key(name: str) -> tuple[str, str | None]:
  """(key, extension) of a member; a name without extension is a key of its own (extension None)."""
  parts = split_key(name)
  return parts if parts is not None else (name, None)


def _tar_end_problem(handle, end_offset: int) -> str | None:
  seekable = handle.seekable  # a method on plain files, a property on Beam's CompressedFile
  try:
    if not (seekable() if callable(seekable) else seekable):
      return None
    # On compressed shards this seek re-reads the stream: the price of not losing a tail.
    handle.seek(end_offset)
    block = handle.read(512)
  except (OSError, ValueError, EOFError, lzma.LZMAError, zlib.error):
    return None  # streaming input, or compressed data broken before the end: trust tarfile
  if len(block) == 512 and not any(block):
    return None
  if not block:
    return f"archive ends at byte {end_offset} without an end-of-archive marker (cut short?)"
  return f"invalid tar header at byte {end_offset}; the rest of the shard is unreadable"


def _stem(path: str) -> str:
  return posixpath.basename(path).split(".")[0]


def _first_column(names: list[str], candidates: tuple[str, ...]) -> str | None:
  return next((c for c in candidates if c in names), None)


def _read_parquet(path: str, handle, max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> Iterator[RawExample]:
  """One example per parquet row, each with its own reject reason: a bad value or row group
  costs its own rows only, never the rest of the shard."""
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

  try:
    pfile = pq.ParquetFile(handle)
    names = pfile.schema_arrow.names
    groups = [pfile.metadata.row_group(g).num_rows for g in range(pfile.num_row_groups)]
  except Exception as e:  # pylint: disable=broad-except
    yield _shard_error(path, 0, reasons.UNREADABLE_SHARD, f"not a parquet file: {e}")
    return
  columns = _ParquetColumns.find(names)
  if columns.image is None and "status" in names:
    # Every row will be missing_image: say why once, not 10,000 times.
    log.warning("%s looks like img2dataset's metadata beside a tar (status column, no image bytes); its rows "
                "have no images: give the tars (e.g. 'dir/*' or 'dir/*.tar') instead", path)
  offset = 0
  stem = _stem(path)
  for g, num_rows in enumerate(groups):
    end = offset + num_rows
    try:
      for batch in pfile.iter_batches(batch_size=512, row_groups=[g]):
        for row in batch.to_pylist():
          yield _parquet_example(row, columns, path, f"{stem}{offset:09d}", offset, max_member_bytes)
          offset += 1
    except Exception as e:  # pylint: disable=broad-except
      # The row group cannot be decoded past `offset`: each row it holds still gets a row.
      detail = f"parquet row group {g} unreadable from row {offset}: {type(e).__name__}: {e}"[:200]
      if end - offset > MAX_LOST_PARQUET_ROWS:
        # A footer can claim any count: past this many, one row stands for the group's rest.
        yield _shard_error(path, offset, reasons.UNREADABLE_SHARD, f"{detail} ({end - offset} rows claimed)"[:300],
                           key=f"{stem}{offset:09d}")
      else:
        for lost in range(offset, end):
          yield _shard_error(path, lost, reasons.UNREADABLE_SHARD, detail, key=f"{stem}{lost:09d}")
      offset = end


class _ParquetColumns(NamedTuple):
  """Which img2dataset columns a parquet shard has (first match wins)."""

  image: str | None
  caption: str | None
  url: str | None

  @classmethod
  def find(cls, names: list[str]) -> _ParquetColumns:
    return cls(_first_column(names, _PARQUET_IMAGE_COLUMNS), _first_column(names, _PARQUET_CAPTION_COLUMNS),
               _first_column(names, _PARQUET_URL_COLUMNS))

  @property
  def ext(self) -> str:
    return "jpg" if self.image in (None, "image", "jpeg") else self.image


def _parquet_example(row: dict, columns: _ParquetColumns, path: str, default_key: str, offset: int,
                     max_member_bytes: int) -> RawExample:
  """The example of one parquet row; values of the wrong type are named, never converted."""
  key = row.get("key")
  key = str(key) if isinstance(key, (str, int)) and not isinstance(key, bool) else default_key
  example = RawExample(key=key, source=path, offset=offset)
  problems: list[tuple[str, str]] = []
  try:
    failure = img2dataset.download_failure(row)
    if failure is not None:
      problems.append((reasons.DOWNLOAD_FAILED, failure))
    image = row.get(columns.image) if columns.image else None
    if isinstance(image, bytes):
      if len(image) > max_member_bytes:
        problems.append((reasons.OVERSIZED_MEMBER, f"{columns.image}: {len(image)} bytes > {max_member_bytes}"))
      else:
        example.members[columns.ext] = image
    elif image is not None:
      # bytes(300000000) of an int column would allocate 300 MB: a wrong type is named, not converted.
      problems.append((reasons.MISSING_IMAGE, f"image column {columns.image!r} holds {_type_name(image)}, not bytes"))
    caption = row.get(columns.caption) if columns.caption else None
    if isinstance(caption, str):
      example.members["txt"] = caption.encode("utf-8", "surrogatepass")
    elif isinstance(caption, bytes):
      # A binary caption column keeps its raw bytes: invalid UTF-8 is judged by annotate.
      example.members["txt"] = caption
    elif caption is not None:
      problems.append((reasons.MISSING_CAPTION,
                       f"caption column {columns.caption!r} holds {_type_name(caption)}, not text"))
    meta = {k: v for k, v in row.items() if k not in (columns.image, columns.caption) and _is_json_scalar(v)}
    if isinstance(caption, str):
      meta["caption"] = caption
    if columns.url:
      meta["url"] = row.get(columns.url) if isinstance(row.get(columns.url), str) else None
    if isinstance(row.get(_PARQUET_REGIONS_COLUMN), (list, tuple)):
      meta[_PARQUET_REGIONS_COLUMN] = row[_PARQUET_REGIONS_COLUMN]
    # Values JSON cannot hold (bytes inside a regions struct) become null: annotate drops them.
    example.members["json"] = json.dumps(meta, ensure_ascii=False, default=_no_json).encode("utf-8", "surrogatepass")
  except Exception as e:  # pylint: disable=broad-except
    problems.append((reasons.UNREADABLE_SHARD, f"parquet row {offset}: {type(e).__name__}: {e}"[:200]))
  if problems:
    problems.sort(key=lambda p: reasons.ANNOTATE_REASONS.index(p[0]))
    example.read_error = problems[0][0]
    example.read_detail = "; ".join(detail for _, detail in problems)
  return example


def _type_name(value) -> str:
  return f"a {type(value).__name__}" + (f" of {len(value)} items" if isinstance(value, (list, dict)) else "")


def _no_json(value) -> None:
  del value


def _is_json_scalar(value) -> bool:
  return value is None or isinstance(value, (str, int, float, bool))
