"""Reading a finished selection (the `select` job's output) for materialize and the report."""

from __future__ import annotations

from webpairs.formats import files, selection

# What materialize needs from each selection row.
PLAN_COLUMNS = ["source", "offset", "key", "keep", "repeat", "cluster_id", "lang"]


def selection_files(selection_dir: str) -> list[str]:
  """Sorted selection files of `selection_dir`; a clear error when there are none."""
  pattern = selection.selection_glob(selection_dir)
  found = sorted(m.path for m in files.match(pattern))
  if not found:
    raise FileNotFoundError(f"no selection files match {pattern!r}: run `webpairs curate select` first")
  return found


def read_summary(selection_dir: str) -> dict:
  path = files.join(selection_dir, selection.SUMMARY_FILE)
  if not files.exists(path):
    raise FileNotFoundError(f"{path} is missing: the selection is incomplete (rerun `webpairs curate select`)")
  return files.read_json(path)
