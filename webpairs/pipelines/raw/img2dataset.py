"""img2dataset's per-shard parquet beside each tar: metadata of every URL tried, failures included.

img2dataset writes `00000.tar` with the downloaded examples and `00000.parquet` with one row
per URL it tried (`status`: success / failed_to_download / failed_to_resize, `error_message`).
The parquet beside a tar is metadata, not a second shard; its failed rows become
`download_failed` examples so that no URL img2dataset tried goes unaccounted.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Iterable, Iterator
from typing import Any

from webpairs.curation import reasons
from webpairs.formats.raw import RawExample
from webpairs.formats import files

log = logging.getLogger(__name__)

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
SUCCESS = "success"
_BATCH_ROWS = 4096


def _strip_tar(path: str) -> str | None:
  lower = path.lower()
  for suffix in TAR_SUFFIXES:
    if lower.endswith(suffix):
      return path[: -len(suffix)]
  return None


def sidecar_path(tar_path: str) -> str | None:
  """`dir/00000.parquet` for `dir/00000.tar` (None for anything that is not a tar)."""
  stem = _strip_tar(tar_path)
  return None if stem is None else stem + ".parquet"


def drop_sidecars(paths: Iterable[str]) -> list[str]:
  """`paths` without the parquet files that sit beside a tar also in `paths`."""
  paths = list(paths)
  sidecars = {sidecar_path(p) for p in paths} - {None}
  dropped = [p for p in paths if p in sidecars]
  if dropped:
    log.info("%d parquet files are img2dataset metadata beside their tars, not shards (e.g. %s)",
             len(dropped), dropped[0])
  return [p for p in paths if p not in sidecars]


def download_failure(row: dict[str, Any]) -> str | None:
  """The status detail of an img2dataset row that failed ('failed_to_download: 404 ...'), else None."""
  status = row.get("status")
  if status is None or status == SUCCESS:
    return None
  message = row.get("error_message")
  return f"{status}: {message}" if message else str(status)


def _json_scalar(value: Any) -> bool:
  return value is None or isinstance(value, (str, int, float, bool))


def meta_json(row: dict[str, Any], skip: Iterable[str] = ()) -> bytes:
  """The row's JSON-representable scalar fields as a `.json` member (bytes columns and structs left out)."""
  skip = set(skip)
  meta = {k: v for k, v in row.items() if k not in skip and _json_scalar(v)}
  return json.dumps(meta, ensure_ascii=False).encode("utf-8")


def failed_downloads(tar_path: str, first_offset: int) -> Iterator[RawExample]:
  """`download_failed` examples for the failed rows of the tar's sidecar, numbered from `first_offset`.

  No sidecar (not img2dataset output) or no `status` column: nothing. An unreadable
  sidecar is a warning: the tar's own examples are all accounted for without it.
  """
  path = sidecar_path(tar_path)
  if path is None or not files.exists(path):
    return
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel

  offset = first_offset
  stem = posixpath.basename(tar_path).split(".")[0]
  try:
    with files.open(path) as handle:
      pfile = pq.ParquetFile(handle)
      names = pfile.schema_arrow.names
      if "status" not in names:
        return
      # Only the scalar columns: a failed row has no image bytes worth reading.
      columns = [f.name for f in pfile.schema_arrow if not _is_nested_or_binary(f.type)]
      for batch in pfile.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        for row in batch.to_pylist():
          detail = download_failure(row)
          if detail is None:
            continue
          key = str(row["key"]) if row.get("key") is not None else f"{stem}@failed{offset}"
          yield RawExample(key=key, source=tar_path, offset=offset, members={"json": meta_json(row)},
                           read_error=reasons.DOWNLOAD_FAILED, read_detail=detail)
          offset += 1
  except Exception as e:  # pylint: disable=broad-except
    log.warning("%s: img2dataset sidecar %s unreadable (%s); its failed downloads are not counted",
                tar_path, path, e)


def _is_nested_or_binary(typ) -> bool:
  import pyarrow as pa  # pylint: disable=import-outside-toplevel

  return pa.types.is_nested(typ) or pa.types.is_binary(typ) or pa.types.is_large_binary(typ)
