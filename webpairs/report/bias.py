"""The curation report's balancing section: M4 bias before and after (the plot is report.plots.bias).

Everything comes from the `balance` section of SEL/summary.json (exact, from cell statistics).
"""

from __future__ import annotations

import math
from typing import Any

# Summary bias reports in the order the table and plot show them, with their labels.
SERIES = (
    ("input", "annotate ok"),
    ("before", "pool (before M4)"),
    ("after_expected", "after, expected (q)"),
    ("after", "after, realised (kept)"),
)
TOP_CONCEPTS = 6  # concepts listed one by one: the most frequent in the pool
MIN_COUNT = 5  # parity gaps only for concepts with at least this many pool rows


def series(balance: dict) -> list[tuple[str, dict]]:
  """(label, bias report) for each report the summary has."""
  bias = balance.get("bias") or {}
  return [(label, bias[key]) for key, label in SERIES if bias.get(key)]


def frequent_concepts(balance: dict, top: int | None = TOP_CONCEPTS, min_count: int = MIN_COUNT) -> list[str]:
  counts = balance.get("concept_counts") or {}
  names = sorted((c for c in counts if counts[c] >= min_count), key=lambda c: (-counts[c], c))
  return names if top is None else names[:top]


def _fmt(value: Any, spec: str) -> str:
  return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _max_abs(values) -> float | None:
  values = [abs(v) for v in values if v is not None]
  return max(values) if values else None


def table_rows(balance: dict) -> tuple[list[str], list[list[str]]]:
  """(header, rows) of the before/after table."""
  cols = series(balance)
  attrs = balance.get("attributes") or []
  top = frequent_concepts(balance)
  gapped = frequent_concepts(balance, top=None)
  rows: list[tuple[str, Any]] = [
      ("rows (copies)", lambda r: _fmt(r.get("weight"), ",.0f")),
      ("keep rate", lambda r: _fmt(r.get("keep_rate"), ".4f")),
  ]
  for a in attrs:
    rows.append((f"representation {a}: E[s] - pi", lambda r, a=a: _fmt(r["representation"].get(a), "+.5f")))
  rows.append((f"max |association|, all {len(balance.get('concepts') or [])} concepts",
               lambda r: _fmt(r.get("max_abs_association"), ".5f")))
  counts = balance.get("concept_counts") or {}
  for c in top:
    for a in attrs:
      rows.append((f"association {a} x {c} (n={counts[c]:,})",
                   lambda r, a=a, c=c: _fmt(r["association"][a].get(c), "+.5f")))
  rows.append((f"max |parity gap|, concepts with n >= {MIN_COUNT}",
               lambda r: _fmt(_max_abs(r["demographic_parity_gap"][a][c] for a in attrs for c in gapped), ".4f")))
  rows.append(("worst violation of eps", lambda r: _fmt(r.get("worst_violation"), ".5f")))
  header = ["statistic"] + [label for label, _ in cols]
  return header, [[label] + [fmt(report) for _, report in cols] for label, fmt in rows]


def note(balance: dict) -> str:
  """One line: the targets and tolerances, and whether eta was feasible."""
  pi = ", ".join(f"{p:.4f}" for p in balance.get("pi") or [])
  mode = "hard" if balance.get("hard") else f"soft, V = {balance.get('V'):g}"
  eta_max = balance.get("max_feasible_eta")
  verdict = ("INFEASIBLE: " + balance.get("reason", "")) if balance.get("infeasible") else "feasible"
  return (f"{balance.get('source')} indicators ({(balance.get('indicators') or {}).get('annotator', '?')}); "
          f"pi = ({pi}) [{balance.get('pi_rule')}], eps_rep = {balance.get('eps_rep'):g}, "
          f"eps_assoc = {balance.get('eps_assoc'):g}, eta = {balance.get('eta'):g} ({mode}); "
          f"max feasible eta = {_fmt(eta_max, '.4f')}: {verdict}. Rows are weighted by their copies "
          "after the language quotas; M4 keeps a row iff hash(seed, id) < q.")
