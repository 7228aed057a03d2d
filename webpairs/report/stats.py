"""What the curation report shows, gathered from annotations, the selection and the manifest.

Counts (funnel, reasons, languages) come from the job summaries and are exact. Feature
histograms and duplicate-cluster sizes read rows, at most `max_rows` of them (whole
annotation files in sorted order); the report says when it sampled.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webpairs.curation import reasons
from webpairs.formats import annotation_files, files
from webpairs.pipelines.select import selection_io

DEFAULT_MAX_ROWS = 2_000_000


@dataclasses.dataclass(frozen=True)
class Filter:
  """A threshold of the curation config on an annotation feature."""

  feature: str  # column of the feature table (annotation column or derived)
  key: str  # config key, e.g. "filters.min_words"
  kind: str  # "min" or "max"
  off: float  # the value that switches the filter off


# Curation config thresholds (webpairs/configs/curation) and the feature each one cuts.
FILTERS = (
    Filter("short_side", "filters.min_side", "min", 0),
    Filter("aspect_ratio", "filters.max_aspect_ratio", "max", 0),
    Filter("n_chars", "filters.min_caption_chars", "min", 0),
    Filter("n_chars", "filters.max_caption_chars", "max", 0),
    Filter("n_words", "filters.min_words", "min", 0),
    Filter("n_words", "filters.max_words", "max", 0),
    Filter("letter_ratio", "filters.min_letter_ratio", "min", 0.0),
    Filter("digit_ratio", "filters.max_digit_ratio", "max", 1.0),
    Filter("symbol_ratio", "filters.max_symbol_ratio", "max", 1.0),
    Filter("upper_ratio", "filters.max_upper_ratio", "max", 1.0),
    Filter("repetition_ratio", "filters.max_repetition_ratio", "max", 1.0),
    Filter("lang_score", "filters.min_lang_score", "min", 0.0),
)
# Shown when the config filters on no feature at all, so the report still shows the pool.
DEFAULT_FEATURES = ("short_side", "n_words", "lang_score")
FEATURE_LABELS = {
    "short_side": "shorter image side (px)",
    "aspect_ratio": "aspect ratio (long / short side)",
    "n_chars": "caption characters",
    "n_words": "caption words",
    "letter_ratio": "letter share of caption",
    "digit_ratio": "digit share of caption",
    "symbol_ratio": "punctuation and symbol share",
    "upper_ratio": "upper-case share of letters",
    "repetition_ratio": "word repetition ratio",
    "lang_score": "fastText language score",
}
_ANNOTATION_COLUMNS = ["source", "offset", "status", "width", "height", "original_width", "original_height",
                       "n_chars", "n_words", "letter_ratio",
                       "digit_ratio", "symbol_ratio", "upper_ratio", "repetition_ratio", "lang_score"]


def _lookup(config: dict, dotted: str) -> Any:
  node: Any = config
  for part in dotted.split("."):
    if not isinstance(node, dict) or part not in node:
      return None
    node = node[part]
  return node


def active_thresholds(config: dict | None) -> dict[str, list[tuple[str, str, float]]]:
  """feature -> [(config key, 'min' or 'max', value)] for the filters the config switches on."""
  out: dict[str, list[tuple[str, str, float]]] = {}
  for f in FILTERS:
    value = _lookup(config or {}, f.key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value != f.off:
      out.setdefault(f.feature, []).append((f.key, f.kind, float(value)))
  return out


def _annotation_files(annotations_dir: str) -> list[str]:
  pattern = annotation_files.annotations_glob(annotations_dir)
  return sorted(m.path for m in files.match(pattern))


def _read_capped(paths: list[str], columns: list[str], max_rows: int, row_filter=None) -> tuple[pa.Table, bool]:
  """Whole files in order until `max_rows` rows; (table, whether files were left out)."""
  tables, rows = [], 0
  for path in paths:
    if rows >= max_rows:
      return pa.concat_tables(tables, promote_options="default"), True
    with files.open(path) as f:
      pfile = pq.ParquetFile(f)
      table = pfile.read(columns=[c for c in columns if c in pfile.schema_arrow.names])
    if row_filter is not None:
      table = table.filter(row_filter(table))
    tables.append(table)
    rows += table.num_rows
  if not tables:
    return pa.table({c: pa.array([], pa.null()) for c in columns}), False
  return pa.concat_tables(tables, promote_options="default"), False


def feature_table(annotations: pa.Table, kept: dict[tuple[str, int], bool]) -> dict[str, np.ndarray]:
  """Feature columns (float, NaN where missing) of annotate-ok rows, plus a `kept` mask."""
  ok = annotations.filter(pc.equal(annotations["status"], reasons.OK))

  def column(name: str) -> np.ndarray:
    if name not in ok.column_names:
      return np.full(ok.num_rows, np.nan)
    return np.asarray(ok[name].cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=float)

  # The size the filters judge: before img2dataset's resize (older annotation files: as stored).
  width = np.where(np.isnan(column("original_width")), column("width"), column("original_width"))
  height = np.where(np.isnan(column("original_height")), column("height"), column("original_height"))
  with np.errstate(invalid="ignore", divide="ignore"):
    out = {
        "short_side": np.fmin(width, height),
        "aspect_ratio": np.fmax(width, height) / np.fmin(width, height),
    }
  for name in ("n_chars", "n_words", "letter_ratio", "digit_ratio", "symbol_ratio", "upper_ratio",
               "repetition_ratio", "lang_score"):
    out[name] = column(name)
  ids = zip(ok["source"].to_pylist(), ok["offset"].to_pylist())
  out["kept"] = np.array([kept.get(i, False) for i in ids], dtype=bool)
  return out


def cluster_sizes(cluster_ids: list[str | None]) -> dict[int, int]:
  """cluster size -> number of clusters of that size (empty ids are not clusters)."""
  sizes = collections.Counter(c for c in cluster_ids if c)
  return dict(sorted(collections.Counter(sizes.values()).items()))


@dataclasses.dataclass
class ReportStats:
  funnel: list[tuple[str, int]]  # (stage, examples)
  reject_counts: dict[str, int]  # first failing reason -> rows
  rule_failure_counts: dict[str, int]  # reason -> rows failing it at all
  annotate_reasons: set[str]
  langs: dict[str, dict[str, int]]  # series name -> {lang: count}
  cluster_sizes: dict[int, int]
  features: dict[str, np.ndarray]
  thresholds: dict[str, list[tuple[str, str, float]]]
  rows_read: int
  sampled: bool
  selection_summary: dict
  manifest: dict | None
  annotate_summary: dict | None


def gather(selection_dir: str, manifest: dict | None = None, *, annotations_dir: str | None = None,
           max_rows: int = DEFAULT_MAX_ROWS) -> ReportStats:
  """Everything the report plots, from the selection (and its annotations) and the manifest."""
  summary = selection_io.read_summary(selection_dir)
  annotations_dir = annotations_dir or summary.get("annotations")
  annotate_summary = None
  if annotations_dir and files.exists(files.join(annotations_dir, annotation_files.SUMMARY_FILE)):
    annotate_summary = files.read_json(files.join(annotations_dir, annotation_files.SUMMARY_FILE))

  annotations, sampled = _read_capped(_annotation_files(annotations_dir) if annotations_dir else [],
                                      _ANNOTATION_COLUMNS, max_rows)
  sources = pa.array(sorted(set(annotations["source"].to_pylist())) if annotations.num_rows else [], pa.string())
  # When annotations were sampled, only the selection rows of the same raw shards.
  only_sampled = (lambda t: pc.is_in(t["source"], value_set=sources)) if sampled else None
  sel, sel_sampled = _read_capped(selection_io.selection_files(selection_dir),
                                  ["source", "offset", "keep", "cluster_id"], max_rows, only_sampled)
  kept = {(s, o): bool(k) for s, o, k in zip(sel["source"].to_pylist(), sel["offset"].to_pylist(),
                                             sel["keep"].to_pylist())}

  reject = {k: v for k, v in (summary.get("reason_counts") or {}).items() if k != reasons.OK}
  funnel = [("input examples", summary.get("input_examples"))]
  if annotate_summary:
    funnel.append(("pass annotate", annotate_summary.get("ok")))
  funnel += [("kept by select", summary.get("kept")), ("copies (with repeats)", summary.get("written"))]
  if manifest:
    funnel.append(("materialized", manifest.get("examples")))
  langs = {"input": summary.get("lang_before") or {}}
  if summary.get("lang_pool") and summary.get("lang_pool") != summary.get("lang_after"):
    langs["after filters"] = summary["lang_pool"]  # before language quotas moved the shares
  langs["selected"] = summary.get("lang_after") or {}
  if manifest and manifest.get("lang_counts"):
    langs["materialized"] = manifest["lang_counts"]
  return ReportStats(
      funnel=[(name, int(n)) for name, n in funnel if isinstance(n, int)],
      reject_counts=dict(sorted(reject.items(), key=lambda kv: (-kv[1], kv[0]))),
      rule_failure_counts=dict(summary.get("rule_failure_counts") or {}),
      annotate_reasons=set(reasons.ANNOTATE_REASONS),
      langs=langs,
      cluster_sizes=cluster_sizes(sel["cluster_id"].to_pylist() if "cluster_id" in sel.column_names else []),
      features=feature_table(annotations, kept) if annotations.num_rows else {},
      thresholds=active_thresholds(summary.get("config")),
      rows_read=annotations.num_rows,
      sampled=sampled or sel_sampled,
      selection_summary=summary,
      manifest=manifest,
      annotate_summary=annotate_summary,
  )
