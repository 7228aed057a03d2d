"""PNG plots of the curation report, drawn with matplotlib's Agg canvas (no display, no pyplot)."""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from webpairs.report import bias as report_bias
from webpairs.report.stats import DEFAULT_FEATURES, FEATURE_LABELS, ReportStats

ANNOTATE_COLOUR = "#c0504d"
SELECT_COLOUR = "#4f81bd"
ALL_COLOUR = "#b0b0b0"
KEPT_COLOUR = "#4f81bd"
THRESHOLD_COLOUR = "#d62728"
MAX_LANGS = 16
BIAS_COLOURS = (ALL_COLOUR, SELECT_COLOUR, "#9bbb59", "#8064a2")  # in report_bias.SERIES order


def _png(fig: Figure) -> bytes:
  buf = io.BytesIO()
  fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # no version: same bytes on rerun
  return buf.getvalue()


def _message(ax, text: str) -> None:
  ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
  ax.set_axis_off()


def funnel(stats: ReportStats) -> bytes:
  """Examples left after each stage, and how many rows each reason rejected."""
  reasons = list(stats.reject_counts)
  fig = Figure(figsize=(12, max(3.5, 0.32 * len(reasons) + 1.5)), layout="constrained")
  left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
  names = [n for n, _ in stats.funnel][::-1]
  counts = [c for _, c in stats.funnel][::-1]
  base = stats.funnel[0][1] if stats.funnel else 0
  bars = left.barh(names, counts, color=SELECT_COLOUR)
  for bar, count in zip(bars, counts):
    share = f" ({100 * count / base:.1f}%)" if base else ""
    left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {count:,}{share}", va="center", fontsize=9)
  left.set_xlim(0, max(counts + [1]) * 1.35)
  left.set_title("Funnel: examples after each stage")
  left.set_xlabel("examples")
  if not reasons:
    _message(right, "no example was rejected")
    return _png(fig)
  y = np.arange(len(reasons))[::-1]
  at_all = [stats.rule_failure_counts.get(r, 0) for r in reasons]
  first = [stats.reject_counts[r] for r in reasons]
  colours = [ANNOTATE_COLOUR if r in stats.annotate_reasons else SELECT_COLOUR for r in reasons]
  right.barh(y, at_all, color=colours, alpha=0.3, label="fails this rule (any order)")
  bars = right.barh(y, first, color=colours, label="rejected by it first")
  for bar, count in zip(bars, first):
    right.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {count:,}", va="center", fontsize=9)
  right.set_yticks(y, reasons)
  right.set_xlim(0, max(first + at_all + [1]) * 1.2)
  right.set_xlabel("rows")
  right.set_title("Rejects per reason (red: annotate, blue: select rules)")
  right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8, frameon=False)
  return _png(fig)


def _sum_series(series: dict[str, dict[str, int]]) -> dict[str, int]:
  total: dict[str, int] = {}
  for counts in series.values():
    for k, v in counts.items():
      total[k] = total.get(k, 0) + v
  return total


def languages(stats: ReportStats) -> bytes:
  """Share of each language (top languages, the rest as 'other') before and after curation."""
  series = {name: counts for name, counts in stats.langs.items() if counts}
  fig = Figure(figsize=(10, 6), layout="constrained")
  ax = fig.subplots()
  if not series:
    _message(ax, "no language counts in the selection summary")
    return _png(fig)
  total = _sum_series(series)
  top = sorted(total, key=lambda k: (-total[k], k))[:MAX_LANGS]
  labels = top + (["other"] if len(total) > len(top) else [])
  height = 0.8 / len(series)
  y = np.arange(len(labels))[::-1]
  for i, (name, counts) in enumerate(series.items()):
    n = sum(counts.values()) or 1
    shares = [100 * counts.get(lang, 0) / n for lang in top]
    if "other" in labels:
      shares.append(100 * sum(v for k, v in counts.items() if k not in top) / n)
    ax.barh(y + (len(series) / 2 - i - 0.5) * height, shares, height, label=f"{name} ({n:,})")
  ax.set_yticks(y, labels)
  ax.set_xlabel("share of examples (%)")
  ax.set_title("Language shares before and after curation")
  ax.legend(loc="lower right")
  return _png(fig)


def _size_bins(dup: dict[int, int]) -> list[tuple[str, int]]:
  """(label, clusters): one bar per size, or power-of-two ranges when sizes are many."""
  if len(dup) <= 20:
    return [(str(size), dup[size]) for size in sorted(dup)]
  bins: dict[int, int] = {}
  for size, n in dup.items():
    bins[(size - 1).bit_length()] = bins.get((size - 1).bit_length(), 0) + n  # 2 | 3-4 | 5-8 | ...
  return [(f"{2 ** (b - 1) + 1}-{2 ** b}" if b > 1 else "2", bins[b]) for b in sorted(bins)]


def clusters(stats: ReportStats) -> bytes:
  """How many duplicate clusters there are of each size."""
  fig = Figure(figsize=(9, 4), layout="constrained")
  ax = fig.subplots()
  dup = {size: n for size, n in stats.cluster_sizes.items() if size >= 2}
  singles = stats.cluster_sizes.get(1, 0)
  if not dup:
    _message(ax, f"no duplicate clusters ({singles:,} examples, each its own cluster)")
    return _png(fig)
  bins = _size_bins(dup)
  bars = ax.bar([label for label, _ in bins], [n for _, n in bins], color=SELECT_COLOUR, width=0.6)
  for bar, (_, n) in zip(bars, bins):
    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{n:,}", ha="center", va="bottom", fontsize=8)
  ax.set_xlim(-0.8, max(len(bins), 8) - 0.2)
  counts = [n for _, n in bins]
  if max(counts) > 50 * min(counts):
    ax.set_yscale("log")
  else:
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
  ax.set_xlabel("examples in the cluster")
  ax.set_ylabel("clusters")
  members = sum(s * n for s, n in dup.items())
  ax.set_title(f"Duplicate clusters: {sum(dup.values()):,} clusters hold {members:,} examples; "
               f"{singles:,} examples have no duplicate")
  return _png(fig)


def _feature_range(values: np.ndarray, cuts: list[float]) -> tuple[float, float]:
  """The x range: the bulk of the data, widened to thresholds that are not far outside it."""
  lo, hi = (float(v) for v in np.nanpercentile(values, [0.5, 99.5]))
  if hi - lo < 1e-9:  # one value (all digit shares 0, say): a window around it
    lo, hi = lo - 0.5, hi + 0.5
  if values.min() >= 0:
    lo = max(lo, 0.0)  # counts and shares: no negative axis
  span = hi - lo
  near = [c for c in cuts if lo - span <= c <= hi + span]  # far ones get an arrow at the edge
  lo, hi = min([lo] + near), max([hi] + near)
  pad = 0.04 * (hi - lo)
  return lo - pad, hi + pad


def _mark(ax, key: str, kind: str, value: float, lo: float, hi: float) -> None:
  label = f"{key.split('.')[-1]} = {value:g}"
  box = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1}
  if lo <= value <= hi:
    ax.axvline(value, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.5)
    ax.annotate(label, (value, 1), xycoords=("data", "axes fraction"), xytext=(3 if kind == "min" else -3, -12),
                textcoords="offset points", ha="left" if kind == "min" else "right", color=THRESHOLD_COLOUR,
                fontsize=8, bbox=box)
    return
  # Far outside the data: say so at the edge instead of squashing the histogram.
  right = value > hi
  ax.annotate(f"{label} →" if right else f"← {label}", (1 if right else 0, 0.88),
              xycoords="axes fraction", ha="right" if right else "left", color=THRESHOLD_COLOUR, fontsize=8, bbox=box)


def features(stats: ReportStats) -> bytes:
  """Histograms of the features the config filters on, all rows vs kept, thresholds marked."""
  names = list(stats.thresholds) or [f for f in DEFAULT_FEATURES if f in stats.features]
  cols = min(3, max(1, len(names)))
  rows = max(1, math.ceil(len(names) / cols))
  # Fixed margins, not a layout engine: it took most of the report's time for 9 panels.
  fig = Figure(figsize=(4.2 * cols, 2.9 * rows + 0.6))
  height = 2.9 * rows + 0.6
  fig.subplots_adjust(left=0.07, right=0.98, bottom=0.3 / height, top=1 - 0.75 / height, wspace=0.28, hspace=0.45)
  axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
  if not names or not stats.features:
    _message(axes[0], "no annotation rows to plot")
    return _png(fig)
  kept = stats.features["kept"]
  for ax, name in zip(axes, names):
    values = stats.features[name]
    finite = np.isfinite(values)
    cuts = stats.thresholds.get(name, [])
    if not finite.any():
      _message(ax, f"{FEATURE_LABELS.get(name, name)}: no values")
      continue
    lo, hi = _feature_range(values[finite], [v for _, _, v in cuts])
    bins = np.linspace(lo, hi, 41)
    clipped = np.clip(values, lo, hi)  # the tails pile up in the edge bins instead of vanishing
    # One filled outline per histogram, not a patch per bar: much faster to draw.
    ax.stairs(np.histogram(clipped[finite], bins)[0], bins, fill=True, color=ALL_COLOUR,
              label=f"passed annotate ({finite.sum():,})")
    ax.stairs(np.histogram(clipped[finite & kept], bins)[0], bins, fill=True, color=KEPT_COLOUR, alpha=0.85,
              label=f"kept ({(finite & kept).sum():,})")
    for key, kind, value in cuts:
      _mark(ax, key, kind, value, lo, hi)
    ax.set_xlim(lo, hi)
    ax.tick_params(labelsize=8)
    ax.set_title(FEATURE_LABELS.get(name, name), fontsize=10)
  for ax in axes[len(names):]:
    ax.set_axis_off()
  handles, labels = axes[0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="upper center", ncol=3, frameon=False, fontsize=9)
  return _png(fig)


def _bias_panel(ax, cols: list[tuple[str, dict]], labels: list[str], values, eps: float | None, title: str) -> None:
  """Grouped bars of one statistic per series; dashed lines at +-eps."""
  if not labels:
    _message(ax, "no concept has enough rows in the pool")
    return
  y = np.arange(len(labels))[::-1]
  height = 0.8 / max(len(cols), 1)
  for i, (name, report) in enumerate(cols):
    vals = [v if v is not None else 0.0 for v in values(report)]
    colour = BIAS_COLOURS[[label for _, label in report_bias.SERIES].index(name)]
    ax.barh(y + (len(cols) / 2 - i - 0.5) * height, vals, height, label=name, color=colour)
  for x in (-eps, eps) if eps is not None else ():
    ax.axvline(x, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1)
  ax.axvline(0, color="#555555", linewidth=0.8)
  ax.set_yticks(y, labels)
  ax.set_title(title)


def bias(balance: dict) -> bytes:
  """M4: representation per attribute and association per (attribute, frequent concept), per series."""
  cols = report_bias.series(balance)
  attrs = balance.get("attributes") or []
  pairs = [(a, c) for c in report_bias.frequent_concepts(balance, top=8) for a in attrs]
  fig = Figure(figsize=(12, max(3.5, 0.28 * len(pairs) + 1.8)), layout="constrained")
  left, right = fig.subplots(1, 2, width_ratios=[1, 1.6])
  _bias_panel(left, cols, attrs, lambda r: [r["representation"].get(a) for a in attrs], balance.get("eps_rep"),
              "Representation E[s] - pi")
  _bias_panel(right, cols, [f"{a} x {c}" for a, c in pairs], lambda r: [r["association"][a].get(c) for a, c in pairs],
              balance.get("eps_assoc"), "Association E[(s - pi) y], frequent concepts")
  left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8, frameon=False)
  fig.suptitle("M4 balancing: bias before and after (dashed red: tolerances)")
  return _png(fig)
