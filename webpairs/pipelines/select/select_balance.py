"""M4 in `select`: cell statistics of the pool per file, one fit on their sum, the keep rule per row.

The pool is every row that passes the other rules, language quotas included, weighted by its
copies, so the bounds hold on what materialize writes. In hard mode an infeasible eta fails
the job before any selection file is written and leaves SEL/balance_infeasible.json behind
(the pool's bias and the largest feasible eta).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from webpairs.balancing import keywords, m4
from webpairs.balancing import m4_pool
from webpairs.formats import files

ATTR_COLUMN, CONCEPT_COLUMN = "attr_s", "concept_y"
INFEASIBLE_FILE = "balance_infeasible.json"
INPUT, POOL, KEPT = "input", "pool", "kept"  # tags of the per-file cell statistics
_META_KEY = b"webpairs"


@dataclasses.dataclass(frozen=True)
class BalancePlan:
  """The checked `balance` config and which indicator entries it balances."""

  config: m4_pool.BalanceConfig
  indicators: dict  # the annotator's describe(): names of every attr_s / concept_y entry
  attr_index: tuple[int, ...]
  concept_index: tuple[int, ...]

  @property
  def attributes(self) -> list[str]:
    return [self.indicators["attributes"][i] for i in self.attr_index]

  @property
  def concepts(self) -> list[str]:
    return [self.indicators["concepts"][j] for j in self.concept_index]

  @property
  def columns(self) -> list[str]:
    """Annotation columns the indicators and utilities are read from."""
    cols = [ATTR_COLUMN, CONCEPT_COLUMN] if self.config.source == m4_pool.ANNOTATIONS else ["caption", "lang"]
    return cols + ([self.config.utility] if self.config.utility else [])

  def empty_cells(self) -> m4.CellStats:
    return m4.CellStats(len(self.attr_index), len(self.concept_index), self.config.u_step)


def file_indicators(metadata: dict[bytes, bytes] | None) -> dict | None:
  """The indicator names an annotation file records in its metadata (None if it has none)."""
  meta = json.loads((metadata or {}).get(_META_KEY, b"{}"))
  return meta.get("indicators")


def make_balance_plan(config: m4_pool.BalanceConfig, indicators: dict | None) -> BalancePlan:
  """`indicators`: what the annotation files record (used when the source is the annotations)."""
  if config.source == m4_pool.KEYWORDS:
    indicators = keywords.KeywordAnnotator().describe()
  elif not indicators:
    raise ValueError("the annotations record no attr_s / concept_y names (annotated before balancing "
                     "indicators existed?): rerun annotate, or set balance.source='keywords' to find them "
                     "in the captions during select")
  return BalancePlan(config, indicators,
                     tuple(m4_pool.pick(indicators["attributes"], config.attributes, "attributes")),
                     tuple(m4_pool.pick(indicators["concepts"], config.concepts, "concepts")))


def _matrix(column: pa.ChunkedArray, width: int, name: str) -> np.ndarray:
  """list<bool> rows -> (n, width) bool; null rows (no caption) are all False."""
  arr = column.combine_chunks()
  lengths = np.asarray(pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False))
  full = lengths == width
  if not (full | (lengths == 0)).all():
    raise ValueError(f"{name} has rows of {sorted(set(lengths.tolist()) - {0, width})} entries; "
                     f"the annotations' metadata names {width}")
  out = np.zeros((len(arr), width), dtype=bool)
  if width and full.any():
    flat = arr.filter(pa.array(full)).flatten().fill_null(False)
    out[full] = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=bool).reshape(-1, width)
  return out


class Indicators:
  """s (n, m), y (n, c) as uint8 and u (n,) of an annotation table's rows, for one plan."""

  def __init__(self, plan: BalancePlan):
    self._plan = plan
    self._annotator = None

  def __call__(self, table: pa.Table, path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    plan, cfg = self._plan, self._plan.config
    if cfg.source == m4_pool.ANNOTATIONS:
      names = file_indicators(table.schema.metadata)
      if not names or (names["attributes"], names["concepts"]) != (plan.indicators["attributes"],
                                                                   plan.indicators["concepts"]):
        raise ValueError(f"{path} records other indicator names than the first annotation file; "
                         "annotations made with different lexicons cannot be balanced together")
      s = _matrix(table.column(ATTR_COLUMN), len(names["attributes"]), ATTR_COLUMN)
      y = _matrix(table.column(CONCEPT_COLUMN), len(names["concepts"]), CONCEPT_COLUMN)
    else:
      if self._annotator is None:
        self._annotator = keywords.KeywordAnnotator()
      s, y = self._annotator.annotate_batch(table.column("caption").to_pylist(), table.column("lang").to_pylist())
    s = s[:, list(plan.attr_index)].astype(np.uint8)
    y = y[:, list(plan.concept_index)].astype(np.uint8)
    u = None
    if cfg.utility:
      u = np.nan_to_num(np.asarray(table.column(cfg.utility).cast(pa.float64()).fill_null(0.0)
                                   .to_numpy(zero_copy_only=False), dtype=np.float64), nan=0.0)
    return s, y, u


def weighted_cells(plan: BalancePlan, s, y, u, rows: np.ndarray, copies: np.ndarray | None) -> m4.CellStats:
  """Cell statistics of `rows`, each counted `copies` times (None: once)."""
  take = rows if copies is None else np.repeat(rows, copies)
  return plan.empty_cells().add(s[take], y[take], None if u is None else u[take])


class ApplyBalance:
  """The fitted keep rule inside WriteSelection: which pool rows M4 drops; the kept rows' cells."""

  def __init__(self, plan: BalancePlan):
    self._plan = plan
    self._indicators = Indicators(plan)
    self._fit: tuple[str, m4.M4Fit] | None = None

  def _model(self, state: str) -> m4.M4Fit:
    if self._fit is None or self._fit[0] != state:
      self._fit = (state, m4.M4Fit.from_json(state))
    return self._fit[1]

  def __call__(self, balance: dict, table: pa.Table, path: str, ids: Sequence[str],
               repeat: np.ndarray) -> tuple[np.ndarray, m4.CellStats]:
    """(rows M4 drops, cell statistics of the kept rows weighted by copies)."""
    pool = np.flatnonzero(repeat > 0)
    if balance.get("fit") is None:  # an empty pool: nothing to balance
      return np.zeros(0, np.int64), weighted_cells(self._plan, *self._indicators(table, path), pool, repeat[pool])
    s, y, u = self._indicators(table, path)
    keep = self._model(balance["fit"]).keep([ids[i] for i in pool.tolist()], s[pool], y[pool],
                                            None if u is None else u[pool])
    kept = pool[keep]
    return pool[~keep], weighted_cells(self._plan, s, y, u, kept, repeat[kept])


class SumCells(beam.CombineFn):
  """Adds cell statistics (exact integer sums: any order gives the same fit)."""

  def __init__(self, plan: BalancePlan):
    self._plan = plan

  def create_accumulator(self) -> m4.CellStats:
    return self._plan.empty_cells()

  def add_input(self, acc: m4.CellStats, stats: m4.CellStats) -> m4.CellStats:
    return acc.merge(stats)

  def merge_accumulators(self, accs) -> m4.CellStats:
    accs = list(accs)
    return accs[0].merge(*accs[1:])

  def extract_output(self, acc: m4.CellStats) -> m4.CellStats:
    return acc


def _report(plan: BalancePlan, stats: m4.CellStats, pi: np.ndarray, **kwargs) -> dict:
  cfg = plan.config
  rep = m4_pool.cells_report(stats, pi, eps_rep=cfg.eps_rep, eps_assoc=cfg.eps_assoc, **kwargs)
  return m4_pool.named_report(rep, plan.attributes, plan.concepts)


def fit_balance(pool: m4.CellStats, inputs: m4.CellStats, plan: BalancePlan, output_dir: str) -> dict:
  """The fit (as M4Fit JSON) and the bias reports known before the keep rule runs.

  Hard mode, infeasible eta: writes SEL/balance_infeasible.json and raises m4.InfeasibleError.
  """
  cfg = plan.config
  pi = m4_pool.pool_pi(pool, cfg) if pool.n else np.zeros(pool.m)
  out = {
      "pi": pi.tolist(),
      "pool_rows": pool.n,
      "cells": pool.n_cells,
      "attribute_counts": dict(zip(plan.attributes, _counts(pool, 0))),
      "concept_counts": dict(zip(plan.concepts, _counts(pool, 1))),
      "input": _report(plan, inputs, pi) if inputs.n else None,
      "before": _report(plan, pool, pi) if pool.n else None,
  }
  if not pool.n:
    return dict(out, fit=None, info={"reason": "no rows passed the other rules"})
  try:
    fit = m4_pool.fit_pool(pool, cfg, plan.attributes, plan.concepts)
  except m4.InfeasibleError as e:
    files.write_json_atomic(files.join(output_dir, INFEASIBLE_FILE), dict(
        out, reason=e.reason, eta=e.eta, max_feasible_eta=e.max_feasible_eta))
    raise
  q = m4_pool.cell_q(fit, pool)
  return dict(out, fit=fit.to_json(), info=fit.info, after_expected=_report(plan, pool, pi, q=q))


def _counts(stats: m4.CellStats, which: int) -> list[int]:
  """Copies in `stats` with each attribute (which=0) or concept (which=1)."""
  arrays = stats.arrays()
  return (arrays[3] @ arrays[which].astype(np.int64)).tolist()


def summary(balance: dict | None, kept: m4.CellStats | None, plan: BalancePlan | None) -> dict:
  """The summary's `balance` section: settings, fit diagnostics, bias before and after."""
  if plan is None:
    return {"enabled": False}
  cfg = plan.config
  info = balance.get("info") or {}
  after = None
  if kept is not None and balance["pool_rows"]:
    after = _report(plan, kept, np.asarray(balance["pi"]), total=balance["pool_rows"])
  return {
      "enabled": True,
      **{k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("pi", "V", "attributes", "concepts")},
      "V": None if cfg.hard else cfg.V,  # JSON has no infinity: null = hard constraints
      "hard": cfg.hard,
      "pi_rule": "config" if cfg.pi else "parity",
      "pi": balance["pi"],
      "indicators": {k: v for k, v in plan.indicators.items() if k not in ("attributes", "concepts")},
      "attributes": plan.attributes,
      "concepts": plan.concepts,
      "pool_rows": balance["pool_rows"],
      "cells": balance["cells"],
      "attribute_counts": balance["attribute_counts"],
      "concept_counts": balance["concept_counts"],
      "kept_rows": kept.n if kept is not None else 0,
      "infeasible": bool(info.get("infeasible", False)),
      "reason": info.get("reason", ""),
      "max_feasible_eta": info.get("max_feasible_eta"),
      "expected_keep_rate": info.get("expected_keep_rate"),
      "converged": info.get("converged"),
      "kkt_residual": info.get("kkt_residual"),
      "bias": {"input": balance["input"], "before": balance["before"],
               "after_expected": balance.get("after_expected"), "after": after},
      "fit": json.loads(balance["fit"]) if balance.get("fit") else None,
  }
