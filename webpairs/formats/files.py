"""The one filesystem layer (fsspec: local paths, gs://, s3://, memory://, ...); atomic writes: temp file, rename.

A reader never sees a partial file under a final name, so a killed job that is rerun
can trust every final file it finds. Globs follow Beam's rules (`*` stays within a
folder, `**` crosses folders), so patterns written for Beam jobs match the same files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import posixpath
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

TMP_DIR = ".tmp"
_GLOB_CHARS = re.compile(r"^[^[*?]*")


@dataclasses.dataclass(frozen=True)
class FileInfo:
  """A matched file: its path (in the form the pattern was written), size and modification time (epoch seconds)."""

  path: str
  size: int | None
  mtime: float | None


def is_remote(path: str) -> bool:
  return "://" in path


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
  """(the fsspec filesystem of `path`, `path` as that filesystem names it)."""
  return fsspec.core.url_to_fs(path)


def join(base: str, *parts: str) -> str:
  """os.path.join locally; for URLs, '/' between the parts (never doubled after the base)."""
  if not is_remote(base):
    return os.path.join(base, *parts)
  path = base
  for part in parts:
    path = path + part if path.endswith("/") else f"{path}/{part}"
  return path


def split(path: str) -> tuple[str, str]:
  """(folder, name); local paths are made absolute first, as Beam's FileSystems.split does."""
  if not is_remote(path):
    return os.path.split(os.path.abspath(path))
  scheme, rest = path.split("://", 1)
  if "/" not in rest:
    return path, ""
  head, tail = rest.rsplit("/", 1)
  return f"{scheme}://{head}", tail


def basename(path: str) -> str:
  return split(path)[1]


def exists(path: str) -> bool:
  fs, p = filesystem(path)
  return fs.exists(p)


def isdir(path: str) -> bool:
  fs, p = filesystem(path)
  return fs.isdir(p)


def isfile(path: str) -> bool:
  fs, p = filesystem(path)
  return fs.isfile(p)


def open(path: str) -> BinaryIO:  # pylint: disable=redefined-builtin
  """A seekable binary file to read. Never decompresses: callers see the bytes on disk."""
  fs, p = filesystem(path)
  return fs.open(p, "rb")


def create(path: str) -> BinaryIO:
  """A binary file to write, its folder made first where folders exist."""
  fs, p = filesystem(path)
  if isinstance(fs, LocalFileSystem):
    fs.makedirs(fs._parent(p), exist_ok=True)  # pylint: disable=protected-access
  return fs.open(p, "wb")


def delete(paths: Iterable[str]) -> None:
  """Deletes files and folders (recursively)."""
  for path in paths:
    fs, p = filesystem(path)
    fs.rm(p, recursive=True)


def rename(source: str, target: str) -> None:
  """Moves `source` onto `target`, replacing it (atomically on a local disk)."""
  fs, src = filesystem(source)
  dst = filesystem(target)[1]
  if isinstance(fs, LocalFileSystem):
    os.replace(src, dst)
    return
  # Object stores may refuse to overwrite.
  if fs.exists(dst):
    fs.rm(dst)
  fs.mv(src, dst)


def _mtime(fs: fsspec.AbstractFileSystem, path: str, info: dict[str, Any]) -> float | None:
  if isinstance(info.get("mtime"), (int, float)):
    return float(info["mtime"])
  try:
    return fs.modified(path).timestamp()
  except Exception:  # pylint: disable=broad-except
    return None  # the filesystem does not say


def _translate(pattern: str) -> re.Pattern:
  """Beam's glob syntax as a regex: `*` within one path component, `**` across them, `?`, `[...]`."""
  out, i, n = "", 0, len(pattern)
  while i < n:
    c = pattern[i]
    i += 1
    if c == "*":
      if i < n and pattern[i] == "*":
        out, i = out + ".*", i + 1
      else:
        out += r"[^/\\]*"
    elif c == "?":
      out += "."
    elif c == "[":
      j = i + (i < n and pattern[i] == "!")
      j += j < n and pattern[j] == "]"
      while j < n and pattern[j] != "]":
        j += 1
      if j >= n:
        out += r"\["
      else:
        stuff = pattern[i:j].replace("\\", "\\\\")
        i = j + 1
        stuff = "^" + stuff[1:] if stuff[0] == "!" else ("\\" + stuff if stuff[0] == "^" else stuff)
        out += f"[{stuff}]"
    else:
      out += re.escape(c)
  return re.compile(r"(?ms)" + out + r"\Z")


def _dirname(path: str) -> str:
  if not is_remote(path):
    return os.path.dirname(path)
  scheme, rest = path.split("://", 1)
  return f"{scheme}://{posixpath.dirname(rest)}"


def match(pattern: str) -> list[FileInfo]:
  """The files `pattern` matches, sorted by path; [] when none (a missing folder included).

  Beam's semantics: a pattern without glob characters matches itself if it exists; one
  ending in '/' gets '*'; otherwise every file under the folder before the first glob
  character is listed and kept if the whole path matches.
  """
  if pattern.endswith(("/", "\\")):
    pattern += "*"
  prefix = _GLOB_CHARS.match(pattern).group(0)
  fs, stripped = filesystem(pattern if prefix == pattern else (_dirname(prefix) or "."))
  if prefix == pattern:
    if not fs.exists(stripped):
      return []
    info = fs.info(stripped)
    return [FileInfo(pattern, info.get("size"), _mtime(fs, stripped, info))]
  root = _dirname(prefix)
  if not fs.isdir(stripped):
    return []
  regex, found = _translate(pattern), []
  for path, info in fs.find(stripped, withdirs=False, detail=True).items():
    # Back to the pattern's own form (relative, with its scheme) before matching.
    rel = path[len(stripped):].lstrip("/") if path.startswith(stripped) else path
    shown = f"{root.rstrip('/')}/{rel}" if root else rel
    if regex.match(shown):
      found.append(FileInfo(shown, info.get("size"), _mtime(fs, path, info)))
  return sorted(found, key=lambda f: f.path)


def glob(pattern: str) -> list[str]:
  """The sorted paths `pattern` matches (see match)."""
  return [f.path for f in match(pattern)]


def tmp_path_for(final_path: str) -> str:
  parent, name = split(final_path)
  return join(parent, TMP_DIR, f"{name}.{uuid.uuid4().hex}")


def write_bytes_atomic(final_path: str, data: bytes) -> None:
  with atomic_output(final_path) as f:
    f.write(data)


@contextlib.contextmanager
def atomic_output(final_path: str) -> Iterator[BinaryIO]:
  """A stream to write `final_path` in pieces; it appears there only if the block ends cleanly."""
  tmp = tmp_path_for(final_path)
  try:
    with create(tmp) as f:
      yield f
  except BaseException:
    try:
      delete([tmp])
    except Exception:  # pylint: disable=broad-except
      pass  # not there (create failed) or undeletable: remove_stale_tmp clears it after the next success
    raise
  rename(tmp, final_path)


def remove_stale_tmp(output_dir: str, started: float) -> int:
  """Deletes OUTPUT/.tmp files last written before `started` (left by killed or failed runs);
  call it when a job has succeeded. Returns how many were deleted.

  Younger files may belong to a concurrent job on the same output and are kept.
  """
  found = match(join(output_dir, TMP_DIR, "*"))
  stale = [m.path for m in found if (m.mtime or 0) < started]
  if stale:
    delete(stale)
  return len(stale)


def json_safe(obj: Any) -> Any:
  """`obj` with non-finite floats as strict JSON allows: 'inf' / '-inf' as strings, NaN as null."""
  if isinstance(obj, float) and not math.isfinite(obj):
    return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
  if isinstance(obj, dict):
    return {k: json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v) for v in obj]
  return obj


def write_json_atomic(final_path: str, obj: Any) -> None:
  write_bytes_atomic(final_path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def read_json(path: str) -> Any:
  with open(path) as f:
    return json.loads(f.read().decode("utf-8"))


def write_parquet_atomic(final_path: str, table: pa.Table) -> None:
  buf = io.BytesIO()
  # Fixed writer settings so identical tables give identical bytes.
  pq.write_table(table, buf, compression="zstd", write_statistics=True, use_dictionary=True)
  write_bytes_atomic(final_path, buf.getvalue())


def read_parquet_metadata(path: str) -> pq.FileMetaData:
  with open(path) as f:
    return pq.ParquetFile(f).metadata


def read_parquet_columns(path: str, columns: list[str]) -> pa.Table:
  with open(path) as f:
    return pq.read_table(f, columns=columns)
