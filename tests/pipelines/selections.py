"""Writes selection files in the `select` job's format from annotation rows, for materialize tests.

The rule is deliberately simple (keep status 'ok'; every `up_every`-th kept example
gets two copies): the tests check materialize, not selection.
"""

from __future__ import annotations

import collections
import json
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from webpairs.formats.selection import SELECTION_SCHEMA


def annotation_rows(annotations_dir: pathlib.Path) -> list[dict]:
  rows = []
  for path in sorted(annotations_dir.glob("annotations-*.parquet")):
    rows.extend(pq.read_table(path).to_pylist())
  return sorted(rows, key=lambda r: (r["source"], r["offset"]))


def selection_rows(annotations: list[dict], up_every: int = 4) -> list[dict]:
  rows, kept = [], 0
  for a in annotations:
    keep = a["status"] == "ok"
    repeat = 0
    if keep:
      repeat = 2 if kept % up_every == 0 else 1
      kept += 1
    rows.append({
        "source": a["source"], "offset": a["offset"], "key": a["key"], "keep": keep, "repeat": repeat,
        "cluster_id": a["sha256"] or f"{a['source']}@{a['offset']}", "reason": a["status"],
        "reasons": [] if keep else [a["status"]], "lang": a["lang"],
    })
  return rows


def write_selection(annotations_dir: pathlib.Path, selection_dir: pathlib.Path, *, up_every: int = 4,
                    num_files: int = 2, rows: list[dict] | None = None) -> dict:
  """selection-0000k.parquet files plus summary.json; returns the summary."""
  rows = rows if rows is not None else selection_rows(annotation_rows(annotations_dir), up_every)
  selection_dir.mkdir(parents=True, exist_ok=True)
  for k in range(num_files):
    pq.write_table(pa.Table.from_pylist(rows[k::num_files], schema=SELECTION_SCHEMA),
                   selection_dir / f"selection-{k:05d}.parquet")
  kept = [r for r in rows if r["keep"]]
  summary = {
      "annotations": str(annotations_dir),
      "config": {"rule": "status == ok", "up_every": up_every},
      "config_hash": f"test-{up_every}",
      "input_examples": len(rows),
      "kept": len(kept),
      "written": sum(r["repeat"] for r in kept),
      "reason_counts": dict(sorted(collections.Counter(r["reason"] for r in rows).items())),
      "rule_failure_counts": dict(sorted(collections.Counter(x for r in rows for x in r["reasons"]).items())),
      "lang_before": dict(sorted(collections.Counter(r["lang"] or "und" for r in rows).items())),
      "lang_after": dict(sorted(collections.Counter(r["lang"] or "und" for r in kept).items())),
      "near_dup": {"clusters": len({r["cluster_id"] for r in rows})},
  }
  (selection_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
  return summary
