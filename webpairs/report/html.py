"""The curation report: one self-contained `report.html` with its PNG plots (also saved beside it)."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from webpairs.formats import files
from webpairs.report import bias as report_bias, plots as report_plots
from webpairs.report.stats import DEFAULT_MAX_ROWS, ReportStats, gather

REPORT_FILE = "report.html"
PLOTS_DIR = "report"

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .25em .8em; border-bottom: 1px solid #eee; }
th { text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #666; font-size: .9em; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: .85em; }
"""


def _n(value: Any) -> str:
  return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


def _table(header: list[str] | None, rows: list[list[Any]]) -> str:
  head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" if header else ""
  body = "".join(
      "<tr>" + "".join(f'<td class="n">{_n(v)}</td>' if isinstance(v, (int, float)) else f"<td>{_n(v)}</td>"
                       for v in row) + "</tr>" for row in rows)
  return f"<table>{head}{body}</table>"


def _overview(stats: ReportStats, output_dir: str) -> str:
  summary, manifest = stats.selection_summary, stats.manifest or {}
  config = summary.get("config") or {}
  rows = [[name, count] for name, count in stats.funnel]
  if manifest:
    rows += [["curated shards", manifest.get("num_shards", len(manifest.get("shards", [])))],
             ["curated bytes", manifest.get("bytes", 0)],
             ["raw input shards", len(manifest.get("inputs", []))]]
  rows += [["config", f"{config.get('name', '?')} (hash {summary.get('config_hash', '?')})"],
           ["output", output_dir]]
  return _table(None, rows)


def _rejects(stats: ReportStats) -> str:
  total = stats.funnel[0][1] if stats.funnel else 0
  rows = [[reason, "annotate" if reason in stats.annotate_reasons else "select", n,
           f"{100 * n / total:.2f}%" if total else "", stats.rule_failure_counts.get(reason, n)]
          for reason, n in stats.reject_counts.items()]
  if not rows:
    return '<p class="note">No example was rejected.</p>'
  return _table(["first failing reason", "stage", "rows", "of input", "rows failing it at all"], rows)


def _not_written(stats: ReportStats) -> str:
  missing = (stats.manifest or {}).get("not_written") or {}
  if not stats.manifest:
    return '<p class="note">Not materialized yet.</p>'
  if not missing:
    return '<p class="note">Every selected copy was written.</p>'
  return ('<p class="note">Selected copies that materialize could not write (the raw shard changed, '
          'or an image would not decode):</p>' + _table(["reason", "copies"], sorted(missing.items())))


def _balance(stats: ReportStats, plots: dict[str, bytes]) -> list[str]:
  """The M4 section: bias before/after as a table and a plot; nothing when balancing is off."""
  balance = stats.selection_summary.get("balance") or {}
  if not balance.get("enabled"):
    return []
  if not report_bias.series(balance):
    return ["<h2>Balancing (M4)</h2>", '<p class="note">No row reached M4: nothing to balance.</p>']
  header, rows = report_bias.table_rows(balance)
  return ["<h2>Balancing (M4)</h2>", _table(header, rows),
          f'<p class="note">{html.escape(report_bias.note(balance))}</p>',
          _figure("bias", plots["bias"], "M4 bias before and after")]


def _figure(name: str, png: bytes, alt: str, note: str = "") -> str:
  data = base64.b64encode(png).decode("ascii")
  note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
  return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" title="{name}.png">{note_html}'


def render(stats: ReportStats, plots: dict[str, bytes], output_dir: str) -> str:
  """The report page for `stats` with `plots` (name -> PNG bytes) embedded."""
  config = stats.selection_summary.get("config") or {}
  sample = (f"Histograms and cluster sizes read {stats.rows_read:,} annotation rows"
            + (" (a sample: whole files in sorted order, up to the row limit)." if stats.sampled else " (all)."))
  thresholds = ("Dashed red lines: the config's thresholds." if stats.thresholds
                else "This config sets no feature thresholds; shown for reference.")
  sections = [
      f"<h1>Curation report: {html.escape(str(config.get('name', 'selection')))}</h1>",
      _overview(stats, output_dir),
      "<h2>Funnel</h2>", _figure("funnel", plots["funnel"], "funnel and rejects per reason"), _rejects(stats),
      _not_written(stats),
      "<h2>Languages</h2>", _figure("languages", plots["languages"], "language shares before and after"),
      *_balance(stats, plots),
      "<h2>Duplicate clusters</h2>", _figure("clusters", plots["clusters"], "duplicate cluster sizes", sample),
      "<h2>Filtered features</h2>",
      _figure("features", plots["features"], "feature histograms", f"{thresholds} {sample}"),
      "<h2>Config</h2>", f"<pre>{html.escape(json.dumps(config, indent=2, sort_keys=True))}</pre>",
  ]
  title = html.escape(f"webpairs curation report: {config.get('name', '')}")
  return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
          f"<style>{_STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n")


def write_report(output_dir: str, selection_dir: str, manifest: dict | None = None, *,
                 annotations_dir: str | None = None, max_rows: int = DEFAULT_MAX_ROWS) -> str:
  """Writes OUTPUT/report.html and OUTPUT/report/*.png; returns the HTML path."""
  stats = gather(selection_dir, manifest, annotations_dir=annotations_dir, max_rows=max_rows)
  plots = {
      "funnel": report_plots.funnel(stats),
      "languages": report_plots.languages(stats),
      "clusters": report_plots.clusters(stats),
      "features": report_plots.features(stats),
  }
  balance = stats.selection_summary.get("balance") or {}
  if balance.get("enabled") and report_bias.series(balance):
    plots["bias"] = report_plots.bias(balance)
  for name, png in plots.items():
    files.write_bytes_atomic(files.join(output_dir, PLOTS_DIR, f"{name}.png"), png)
  path = files.join(output_dir, REPORT_FILE)
  files.write_bytes_atomic(path, render(stats, plots, output_dir).encode("utf-8"))
  return path
