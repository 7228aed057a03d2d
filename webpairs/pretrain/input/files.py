"""Find curated shard files on local disk or an object store (gs://, s3://, ... through etils.epath) and split them per host."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import IO

TAR_SUFFIX = ".tar"


def is_remote(path: str) -> bool:
  return "://" in path


def _epath(path: str):
  # Imported only for object stores: etils resolves gs:// through gcsfs or tf.io.gfile,
  # whichever the environment has.
  from etils import epath  # pylint: disable=g-import-not-at-top
  return epath.Path(path)


def _glob(pattern: str) -> list[str]:
  if not is_remote(pattern):
    if os.path.isdir(pattern):
      pattern = os.path.join(pattern, "*" + TAR_SUFFIX)
    return glob.glob(pattern)
  path = _epath(pattern)
  if path.is_dir():
    return [os.fspath(p) for p in path.glob("*" + TAR_SUFFIX)]
  parent, _, name = pattern.rstrip("/").rpartition("/")
  return [os.fspath(p) for p in _epath(parent).glob(name)]


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


def host_shards(paths: Sequence[str], process_index: int, process_count: int) -> list[str]:
  """This host's share of the shards: every process_count-th, starting at process_index.

  Whole shards go to one host, so hosts never read the same bytes; every host needs at
  least one shard.
  """
  if len(paths) < process_count:
    raise ValueError(f"{len(paths)} shard(s) cannot be split over {process_count} hosts: write more shards")
  return list(paths[process_index::process_count])


def open_binary(path: str) -> IO[bytes]:
  """A seekable binary file: open() locally, etils.epath for object stores."""
  if is_remote(path):
    return _epath(path).open("rb")
  return open(path, "rb")
