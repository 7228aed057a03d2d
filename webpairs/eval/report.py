"""Eval outputs people read: W/eval/STEP.json, a markdown table (STEP.md) and W/eval/report.html with per-group bar plots.

Metric keys are "<eval>/<metric>" for headline numbers and "<eval>/<metric>/<kind>/<group>"
for a group's value (kind: income, region, country, language); "<eval>/<metric>_disparity/<kind>"
is max - min over that kind's groups.
"""

from __future__ import annotations

import datetime
import glob
import html
import json
import os
import re
from collections.abc import Mapping
from typing import Any

EVAL_DIR = "eval"
PLOTS_DIR = "plots"
REPORT = "report.html"
# Per-group plots show these metrics when an eval has them (retrieval has twelve per language).
PLOT_METRICS = ("accuracy", "i2t_r1", "t2i_r1", "i2t_r10", "t2i_r10")


def split_metrics(metrics: Mapping[str, float]) -> tuple[dict[str, dict[str, float]],
                                                         dict[tuple[str, str], dict[str, dict[str, float]]]]:
  """(headline {eval: {metric: value}}, per-group {(eval, kind): {metric: {group: value}}}), key order kept."""
  headline: dict[str, dict[str, float]] = {}
  groups: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
  for key, value in metrics.items():
    parts = key.split("/", 3)
    if len(parts) == 4:
      name, metric, kind, group = parts
      groups.setdefault((name, kind), {}).setdefault(metric, {})[group] = value
    else:
      name, _, metric = key.partition("/")
      headline.setdefault(name, {})[metric] = value
  return headline, groups


def _fmt(value: float) -> str:
  if float(value).is_integer() and abs(value) >= 1:
    return str(int(value))
  return f"{value:.4f}"


def markdown(metrics: Mapping[str, float], step: int | None = None) -> str:
  """One table of headline metrics per eval, then one table per (eval, group kind) with a column per metric.

  Timings (<eval>/seconds) stay in the JSON only.
  """
  headline, groups = split_metrics({k: v for k, v in metrics.items() if not k.endswith("/seconds")})
  title = f"## Evals at step {step}" if step is not None else "## Evals"
  lines = [title, "", "| eval | metric | value |", "|---|---|---:|"]
  for name, values in headline.items():
    for metric, value in values.items():
      lines.append(f"| {name} | {metric} | {_fmt(value)} |")
  for (name, kind), by_metric in groups.items():
    names = list(by_metric)
    order = list(dict.fromkeys(g for m in names for g in by_metric[m]))
    lines += ["", f"### {name}: by {kind}", "", f"| {kind} | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    for g in order:
      lines.append(f"| {g} | " + " | ".join(_fmt(by_metric[m][g]) if g in by_metric[m] else "" for m in names) + " |")
    disp = [headline.get(name, {}).get(f"{m}_disparity/{kind}") for m in names]
    if any(d is not None for d in disp):
      lines.append("| **max - min** | " + " | ".join("" if d is None else _fmt(d) for d in disp) + " |")
  return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _chance_of(metric: str, headline: Mapping[str, float]) -> float | None:
  """chance for accuracy, chance_r<k> for a recall at k."""
  m = re.search(r"_r(\d+)$", metric)
  return headline.get(f"chance_r{m[1]}") if m else headline.get("chance")


def plot_groups(name: str, kind: str, by_metric: Mapping[str, Mapping[str, float]], headline: Mapping[str, float],
                path: str) -> str:
  """Grouped bars of per-group values, the overall value dashed, chance dotted; returns the PNG path."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  shown = [m for m in PLOT_METRICS if m in by_metric] or list(by_metric)
  groups = list(dict.fromkeys(g for m in shown for g in by_metric[m]))
  width = 0.8 / len(shown)
  x = np.arange(len(groups))
  fig, ax = plt.subplots(figsize=(min(16.0, max(5.0, 0.45 * len(groups) * len(shown) + 2)), 3.6), dpi=110)
  colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  top = 0.0
  for k, metric in enumerate(shown):
    colour = colours[k % len(colours)]
    vals = [by_metric[metric].get(g, np.nan) for g in groups]
    ax.bar(x + (k - (len(shown) - 1) / 2) * width, vals, width, label=metric, color=colour)
    if metric in headline:
      ax.axhline(headline[metric], color=colour, ls="--", lw=1)
    chance = _chance_of(metric, headline)
    if chance is not None:
      ax.axhline(chance, color=colour, ls=":", lw=1.2)
    top = max([top, headline.get(metric, 0.0), chance or 0.0] + [v for v in vals if v == v])
  ax.plot([], [], color="gray", ls="--", lw=1, label="overall")
  ax.plot([], [], color="gray", ls=":", lw=1.2, label="chance")
  disp = ", ".join(f"{m} max-min {headline[f'{m}_disparity/{kind}']:.3f}" for m in shown[:2]
                   if f"{m}_disparity/{kind}" in headline)
  ax.set_title(f"{name}: by {kind}" + (f" ({disp})" if disp else ""), fontsize=9)
  ax.set_xticks(x, groups, rotation=45 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center",
                fontsize=8)
  # Accuracies on a 0-1 axis so runs compare at a glance; recalls of weak models get room to show.
  ax.set_ylim(0, 1.05 if "accuracy" in shown or top > 0.5 else max(0.02, 1.25 * top))
  ax.legend(fontsize=7, loc="upper right")
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return path


def write_results(workdir: str, step: int, metrics: Mapping[str, float], *, configs: Mapping[str, Any] | None = None,
                  checkpoint: str | None = None) -> dict[str, str]:
  """Writes W/eval/STEP.json and STEP.md, then rebuilds W/eval/report.html from every STEP.json there."""
  out_dir = os.path.join(workdir, EVAL_DIR)
  os.makedirs(out_dir, exist_ok=True)
  record = {"step": int(step), "checkpoint": checkpoint,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "metrics": {k: float(v) for k, v in metrics.items()}, "evals": dict(configs or {})}
  json_path = os.path.join(out_dir, f"{int(step)}.json")
  _atomic_write(json_path, json.dumps(record, indent=1, default=str) + "\n")
  md_path = os.path.join(out_dir, f"{int(step)}.md")
  _atomic_write(md_path, markdown(metrics, step))
  html_path = write_html(workdir)
  return {"json": json_path, "markdown": md_path, "html": html_path}


def _records(out_dir: str) -> list[dict[str, Any]]:
  records = []
  for path in glob.glob(os.path.join(out_dir, "*.json")):
    if re.fullmatch(r"\d+\.json", os.path.basename(path)):
      with open(path, encoding="utf-8") as f:
        records.append(json.load(f))
  return sorted(records, key=lambda r: r["step"])


def write_html(workdir: str) -> str:
  """report.html: the newest step's tables and per-group plots, and headline metrics over all evaluated steps."""
  out_dir = os.path.join(workdir, EVAL_DIR)
  records = _records(out_dir)
  if not records:
    raise FileNotFoundError(f"no eval results (STEP.json) in {out_dir}")
  latest = records[-1]
  headline, groups = split_metrics(latest["metrics"])
  os.makedirs(os.path.join(out_dir, PLOTS_DIR), exist_ok=True)
  esc = html.escape
  parts = [f"<!doctype html><meta charset='utf-8'><title>webpairs evals: {esc(workdir)}</title>",
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
           "td,th{border:1px solid #ccc;padding:2px 8px}td.n{text-align:right}img{max-width:100%}</style>",
           f"<h1>Evals of {esc(workdir)}</h1>",
           f"<p>step {latest['step']} (checkpoint {esc(str(latest.get('checkpoint')))}), {esc(latest['time'])}</p>"]
  for name, values in headline.items():
    parts.append(f"<h2>{esc(name)}</h2><table><tr><th>metric</th><th>value</th></tr>")
    parts += [f"<tr><td>{esc(m)}</td><td class=n>{_fmt(v)}</td></tr>" for m, v in values.items()]
    parts.append("</table>")
    for (gname, kind), by_metric in groups.items():
      if gname != name:
        continue
      png = f"{PLOTS_DIR}/{latest['step']}_{_slug(name)}_{_slug(kind)}.png"
      plot_groups(name, kind, by_metric, values, os.path.join(out_dir, png))
      metrics_shown = list(by_metric)
      parts.append(f"<h3>by {esc(kind)}</h3><img src='{esc(png)}' alt='{esc(name)} by {esc(kind)}'>")
      parts.append("<table><tr><th>" + esc(kind) + "</th>" + "".join(f"<th>{esc(m)}</th>" for m in metrics_shown)
                   + "</tr>")
      for g in dict.fromkeys(g for m in metrics_shown for g in by_metric[m]):
        parts.append(f"<tr><td>{esc(g)}</td>" + "".join(
            f"<td class=n>{_fmt(by_metric[m][g]) if g in by_metric[m] else ''}</td>" for m in metrics_shown) + "</tr>")
      disp = [values.get(f"{m}_disparity/{kind}") for m in metrics_shown]
      if any(d is not None for d in disp):
        parts.append("<tr><th>max - min</th>" + "".join(
            f"<td class=n>{'' if d is None else _fmt(d)}</td>" for d in disp) + "</tr>")
      parts.append("</table>")
  if len(records) > 1:
    keys = [k for k in latest["metrics"] if k.count("/") == 1 and not k.endswith("/seconds")]
    parts.append("<h2>Over training</h2><table><tr><th>step</th>" + "".join(f"<th>{esc(k)}</th>" for k in keys)
                 + "</tr>")
    for r in records:
      parts.append(f"<tr><td>{r['step']}</td>" + "".join(
          f"<td class=n>{_fmt(r['metrics'][k]) if k in r['metrics'] else ''}</td>" for k in keys) + "</tr>")
    parts.append("</table>")
  path = os.path.join(out_dir, REPORT)
  _atomic_write(path, "\n".join(parts) + "\n")
  return path


def _atomic_write(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)
