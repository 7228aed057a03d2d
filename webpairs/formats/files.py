"""Atomic writes through Beam's filesystems: write a temp file, then rename it into place.

A reader never sees a partial file under a final name, so a killed job that is rerun
can trust every final file it finds.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

TMP_DIR = ".tmp"


def tmp_path_for(final_path: str) -> str:
  parent, name = FileSystems.split(final_path)
  return FileSystems.join(parent, TMP_DIR, f"{name}.{uuid.uuid4().hex}")


def _move_into_place(tmp: str, final_path: str) -> None:
  # A local rename replaces the target atomically; object stores refuse to overwrite.
  if "://" in final_path and FileSystems.exists(final_path):
    FileSystems.delete([final_path])
  FileSystems.rename([tmp], [final_path])


def write_bytes_atomic(final_path: str, data: bytes) -> None:
  with atomic_output(final_path) as f:
    f.write(data)


@contextlib.contextmanager
def atomic_output(final_path: str) -> Iterator[BinaryIO]:
  """A stream to write `final_path` in pieces; it appears there only if the block ends cleanly."""
  tmp = tmp_path_for(final_path)
  try:
    with FileSystems.create(tmp) as f:
      yield f
  except BaseException:
    try:
      FileSystems.delete([tmp])
    except Exception:  # pylint: disable=broad-except
      pass  # not there (create failed) or undeletable: remove_stale_tmp clears it after the next success
    raise
  _move_into_place(tmp, final_path)


def remove_stale_tmp(output_dir: str, started: float) -> int:
  """Deletes OUTPUT/.tmp files last written before `started` (left by killed or failed runs);
  call it when a job has succeeded. Returns how many were deleted.

  Younger files may belong to a concurrent job on the same output and are kept.
  """
  pattern = FileSystems.join(output_dir, TMP_DIR, "*")
  try:
    found = FileSystems.match([pattern])[0].metadata_list
  except Exception:  # pylint: disable=broad-except
    return 0  # no .tmp folder
  stale = [m.path for m in found if (m.last_updated_in_seconds or 0) < started]
  if stale:
    FileSystems.delete(stale)
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
  with FileSystems.open(path) as f:
    return json.loads(f.read().decode("utf-8"))


def write_parquet_atomic(final_path: str, table: pa.Table) -> None:
  buf = io.BytesIO()
  # Fixed writer settings so identical tables give identical bytes.
  pq.write_table(table, buf, compression="zstd", write_statistics=True, use_dictionary=True)
  write_bytes_atomic(final_path, buf.getvalue())


def read_parquet_metadata(path: str) -> pq.FileMetaData:
  with FileSystems.open(path) as f:
    return pq.ParquetFile(f).metadata


def read_parquet_columns(path: str, columns: list[str]) -> pa.Table:
  with FileSystems.open(path) as f:
    return pq.read_table(f, columns=columns)
