"""Stream (caption, lang) pairs from curated shards: parquet sidecars when present, else the tars' text members."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow.parquet as pq

from webpairs.formats import curated, files

UNDETERMINED = "und"  # language of captions that have none
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
PARQUET_SUFFIX = ".parquet"
_BATCH_ROWS = 8192


def _stem(path: str) -> str | None:
  for suffix in TAR_SUFFIXES + (PARQUET_SUFFIX,):
    if path.endswith(suffix):
      return path[: -len(suffix)]
  return None


def expand_shards(pattern: str) -> list[str]:
  """Files to read for `pattern`: one per shard, sorted, the parquet sidecar when it exists.

  `pattern` is a glob matching tars and/or parquet sidecars, or a directory of curated
  shards. Other files (manifest.json, ...) are ignored. Any filesystem formats.files reads.
  """
  if files.isdir(pattern):
    pattern = files.join(pattern, "*")
  stems: dict[str, list[str]] = {}
  for path in files.glob(pattern):  # files only, never folders
    stem = _stem(path)
    if stem is not None:
      stems.setdefault(stem, []).append(path)
  chosen = []
  for stem, paths in sorted(stems.items()):
    sidecar = stem + PARQUET_SUFFIX
    # Sidecars hold the same captions without image bytes: much faster to read.
    chosen.append(sidecar if sidecar in paths or files.isfile(sidecar) else sorted(paths)[0])
  return chosen


def _lang(value: object) -> str:
  return value if isinstance(value, str) and value.strip() else UNDETERMINED


def _iter_parquet(path: str) -> Iterator[tuple[str, str]]:
  with files.open(path) as f:
    file = pq.ParquetFile(f)
    names = set(file.schema_arrow.names)
    if "caption" not in names:
      raise ValueError(f"{path}: parquet sidecar has no 'caption' column (columns: {sorted(names)})")
    columns = ["caption", "lang"] if "lang" in names else ["caption"]
    for batch in file.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
      captions = batch.column("caption").to_pylist()
      langs = batch.column("lang").to_pylist() if "lang" in columns else [None] * len(captions)
      for caption, lang in zip(captions, langs):
        if caption and caption.strip():
          yield caption, _lang(lang)


def _caption_of(path: str, key: str, members: dict[str, Any]) -> tuple[str, str] | None:
  meta = {}
  if "json" in members:
    try:
      meta = json.loads(members["json"])
    except ValueError as e:
      raise ValueError(f"{path}: {key}.json is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
      raise ValueError(f"{path}: {key}.json is not a JSON object")
  if "txt" in members:
    caption = members["txt"].decode("utf-8")
  else:
    caption = meta.get("caption")
  if not isinstance(caption, str) or not caption.strip():
    return None
  return caption, _lang(meta.get("lang"))


def _iter_tar(path: str) -> Iterator[tuple[str, str]]:
  # Image members are skipped unread; .tar.gz and .tgz are read as a stream.
  with files.open(path) as f, tarfile.open(fileobj=f, mode="r:*") as tar:
    for key, members in curated.iter_examples(tar, read=("txt", "json")):
      if pair := _caption_of(path, key, members):
        yield pair


def iter_captions(paths: Sequence[str]) -> Iterator[tuple[str, str]]:
  """Yields (caption, lang) for every non-empty caption of the shards, in file order."""
  for path in paths:
    yield from (_iter_parquet(path) if path.endswith(PARQUET_SUFFIX) else _iter_tar(path))
