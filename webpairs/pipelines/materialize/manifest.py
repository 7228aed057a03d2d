"""`manifest.json` of curated shards: the shard list, where they came from and what was dropped.

Nothing time-dependent goes in, so a rerun over the same inputs writes the same bytes.
"""

from __future__ import annotations

import collections
from typing import Any

from webpairs.formats import curated, files

# Selection summary fields copied as they are.
_FROM_SELECTION = ("config", "config_hash", "input_examples", "kept", "rule_failure_counts", "lang_before",
                   "lang_after", "near_dup")


def input_fingerprints(paths: list[str]) -> list[dict[str, Any]]:
  """Path, size and modification time of each raw shard: enough to notice a changed input."""
  out = []
  for path in paths:
    found = files.match(path)
    meta = found[0] if found else None
    out.append({"path": path, "bytes": meta.size if meta else None,
                "mtime": meta.mtime if meta else None})
  return out


def static_fields(summary: dict, *, selection_dir: str, annotations_dir: str, inputs: list[str], fmt: str,
                  prefix: str, shard_size: int, resize: int | None, quality: int, version: int) -> dict[str, Any]:
  """Everything in the manifest that is known before the shards are written."""
  reasons = summary.get("reason_counts") or {}
  return {
      "format": fmt,
      "format_version": version,
      "prefix": prefix,
      "shard_size": shard_size,
      "resize": {"shorter_side": resize, "image_format": "jpeg", "quality": quality} if resize else None,
      "selection": selection_dir,
      "annotations": annotations_dir,
      "inputs": input_fingerprints(inputs),
      "reject_counts": {k: v for k, v in sorted(reasons.items()) if k != "ok"},
      "selected_copies": summary.get("written"),
      "tokenizer": None,
      **{k: summary.get(k) for k in _FROM_SELECTION},
  }


def _shard_entry(stats: dict[str, Any]) -> dict[str, Any]:
  entry = {k: stats[k] for k in ("name", "sidecar", "examples", "bytes", "sha256", "planned", "repeats")}
  if stats["errors"]:
    entry["not_written"] = stats["errors"]
  return entry


def build_manifest(shard_stats: list[dict[str, Any]], static: dict[str, Any]) -> dict[str, Any]:
  shard_stats = sorted(shard_stats, key=lambda s: s["index"])
  errors: collections.Counter = collections.Counter()
  langs: collections.Counter = collections.Counter()
  for s in shard_stats:
    errors.update(s["errors"])
    langs.update(s["langs"])
  return {
      **static,
      "shards": [_shard_entry(s) for s in shard_stats],
      "num_shards": len(shard_stats),
      "planned_copies": sum(s["planned"] for s in shard_stats),
      "examples": sum(s["examples"] for s in shard_stats),
      "bytes": sum(s["bytes"] for s in shard_stats),
      "not_written": dict(sorted(errors.items())),
      "lang_counts": dict(sorted(langs.items())),
  }


def sizes(manifest: dict[str, Any]) -> dict[str, int]:
  """`sizes.json` of the manifest's shards: data file name -> examples in it."""
  return {s["name"]: s["examples"] for s in manifest["shards"]}


def write_manifest(shard_stats: list[dict[str, Any]], output_dir: str, static: dict[str, Any]) -> None:
  built = build_manifest(shard_stats, static)
  # sizes.json first: the manifest is what says a run finished.
  files.write_json_atomic(files.join(output_dir, curated.SIZES_FILE), sizes(built))
  files.write_json_atomic(files.join(output_dir, curated.MANIFEST_FILE), built)


def read_manifest(output_dir: str) -> dict[str, Any]:
  return files.read_json(files.join(output_dir, curated.MANIFEST_FILE))
