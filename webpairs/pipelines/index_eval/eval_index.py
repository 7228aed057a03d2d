"""`webpairs curate index-eval`: hash an evaluation set's images into a versioned reference index.

Eval sets are small (thousands to a few hundred thousand images), so this runs in one
process with a thread pool: PIL decodes with the GIL released.
"""

from __future__ import annotations

import concurrent.futures
import io
import logging
import os
import posixpath

import pyarrow.parquet as pq

from webpairs.curation import eval_index
from webpairs.formats import files
from webpairs.formats.images import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

_GLOB_CHARS = "*?["


def match_images(images: str) -> list[str]:
  """Image paths of a directory (recursively, by extension) or of comma-separated globs, sorted."""
  paths: set[str] = set()
  for pattern in [p for p in images.split(",") if p]:
    is_dir = not any(c in pattern for c in _GLOB_CHARS) and (pattern.endswith("/") or os.path.isdir(pattern))
    glob = files.join(pattern.rstrip("/"), "**") if is_dir else pattern
    found = [m.path for m in files.match(glob)]
    if is_dir:
      found = [p for p in found if posixpath.splitext(p)[1].lower().lstrip(".") in IMAGE_EXTENSIONS]
    if not found:
      raise FileNotFoundError(f"no images match {pattern!r}")
    paths.update(found)
  return sorted(paths)


def _hash_file(path: str):
  with files.open(path) as f:
    return eval_index.hash_image(f.read())


def build_eval_index(images: str, name: str, output: str, workers: int | None = None) -> dict:
  """Hashes every image of `images` and writes the index to `output`.

  `output` is a .parquet path, or a directory that gets `NAME-VERSION.parquet`.

  Returns {"name", "version", "images", "failed": [{"path", "reason", "detail"}], "output"}.
  Images that do not decode are listed as failed, not indexed.
  """
  eval_index.check_name(name)
  paths = match_images(images)
  ok_paths, phash, dhash, failed = [], [], [], []
  with concurrent.futures.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
    for path, result in zip(paths, pool.map(_hash_file, paths)):
      if isinstance(result[0], str):
        failed.append({"path": path, "reason": result[0], "detail": result[1]})
      else:
        ok_paths.append(path)
        phash.append(result[0])
        dhash.append(result[1])
  if not ok_paths:
    raise ValueError(f"none of the {len(paths)} images of {images!r} could be hashed")
  index = eval_index.make_index(name, ok_paths, phash, dhash)
  if output.endswith("/") or os.path.isdir(output):
    output = files.join(output.rstrip("/"), f"{name}-{index.version}.parquet")
  files.write_parquet_atomic(output, eval_index.to_table(index, {"failed": len(failed)}))
  log.info("eval index %s v%s: %d images (%d failed) -> %s", name, index.version, len(index), len(failed), output)
  return dict(index.describe(), failed=failed, output=output)


def load_eval_index(path: str) -> eval_index.EvalIndex:
  with files.open(path) as f:
    table = pq.read_table(io.BytesIO(f.read()))
  return eval_index.from_table(table)
