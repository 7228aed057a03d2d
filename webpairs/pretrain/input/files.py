"""Find curated shard files (any filesystem formats.files reads) and split them per host."""

from __future__ import annotations

from collections.abc import Sequence

from webpairs.formats import files

TAR_SUFFIX = ".tar"


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


def host_shards(paths: Sequence[str], process_index: int, process_count: int) -> list[str]:
  """This host's share of the shards: every process_count-th, starting at process_index.

  Whole shards go to one host, so hosts never read the same bytes; every host needs at
  least one shard.
  """
  if len(paths) < process_count:
    raise ValueError(f"{len(paths)} shard(s) cannot be split over {process_count} hosts: write more shards")
  return list(paths[process_index::process_count])
