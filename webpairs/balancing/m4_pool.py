"""M4 on a curation pool: the `balance` settings, pi and the fit from cell statistics, bias before/after.

`select` sums `m4.CellStats` over the rows that pass every other rule, fits here once and
applies `fit.keep` per row (pipelines/select/select_balance.py); this module knows nothing of Beam.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from webpairs.balancing import m4

ANNOTATIONS = "annotations"  # indicators: the attr_s / concept_y columns that annotate wrote
KEYWORDS = "keywords"  # indicators: the installed keyword lexicon run on caption + lang by select
SOURCES = (ANNOTATIONS, KEYWORDS)


@dataclasses.dataclass(frozen=True)
class BalanceConfig:
  """The `balance` section of a curation config (webpairs/configs/curation), checked."""

  source: str = ANNOTATIONS
  attributes: tuple[str, ...] = ()  # names to balance; empty: every attribute of the source
  concepts: tuple[str, ...] = ()  # names to balance against; empty: every concept of the source
  pi: tuple[float, ...] = ()  # target share per attribute (one value: all); empty: parity
  eps_rep: float = 0.01
  eps_assoc: float = 0.005
  eta: float = 0.9
  V: float = math.inf  # dual cap: inf = hard constraints, finite = soft
  gamma: float = 1.0
  utility: str = ""  # annotation column holding u (nulls count as 0); empty: u = 1
  u_step: float = 0.01  # utility bucket of the cell statistics
  seed: int = 1  # of the keep rule's hash

  def __post_init__(self):
    if self.source not in SOURCES:
      raise ValueError(f"balance.source must be one of {SOURCES}, got {self.source!r}")
    if not 0.0 < self.eta < 1.0:
      raise ValueError(f"balance.eta must be in (0, 1), got {self.eta}")
    if not (self.eps_rep >= 0 and self.eps_assoc >= 0 and self.V >= 0 and self.gamma > 0 and self.u_step > 0):
      raise ValueError(f"balance: eps_rep, eps_assoc, V >= 0 and gamma, u_step > 0 needed: {self}")
    if any(not 0.0 <= p <= 1.0 for p in self.pi):
      raise ValueError(f"balance.pi values are shares in [0, 1], got {self.pi}")

  @classmethod
  def from_mapping(cls, m: Mapping) -> BalanceConfig:
    return cls(source=str(m.get("source", ANNOTATIONS)), attributes=tuple(map(str, m.get("attributes", ()))),
               concepts=tuple(map(str, m.get("concepts", ()))), pi=tuple(float(p) for p in m.get("pi", ())),
               eps_rep=float(m.get("eps_rep", 0.01)), eps_assoc=float(m.get("eps_assoc", 0.005)),
               eta=float(m.get("eta", 0.9)), V=float(m.get("V", math.inf)), gamma=float(m.get("gamma", 1.0)),
               utility=str(m.get("utility", "")), u_step=float(m.get("u_step", 0.01)), seed=int(m.get("seed", 1)))

  @property
  def hard(self) -> bool:
    return math.isinf(self.V)


def pick(available: Sequence[str], wanted: Sequence[str], kind: str) -> list[int]:
  """Positions of the `wanted` names among `available` (all of them when `wanted` is empty)."""
  if not wanted:
    return list(range(len(available)))
  missing = [w for w in wanted if w not in available]
  if missing:
    raise ValueError(f"balance.{kind} names {missing} are not among the indicators' {kind}: {list(available)}")
  return [list(available).index(w) for w in wanted]


def pool_pi(stats: m4.CellStats, config: BalanceConfig) -> np.ndarray:
  """Target shares: the config's, or parity (every attribute at the mean share of all attributes)."""
  if config.pi:
    if len(config.pi) not in (1, stats.m):
      raise ValueError(f"balance.pi has {len(config.pi)} values for {stats.m} attributes")
    return np.broadcast_to(np.asarray(config.pi, np.float64), (stats.m,)).copy()
  s, _, _, count = stats.arrays()
  share = (count @ s) / count.sum() if count.sum() else np.zeros(stats.m)
  return np.full(stats.m, float(np.mean(share)) if stats.m else 0.0)


def fit_pool(stats: m4.CellStats, config: BalanceConfig, attributes: Sequence[str],
             concepts: Sequence[str]) -> m4.M4Fit:
  """`m4.fit_cells` with the config's settings; raises `m4.InfeasibleError` in hard mode."""
  return m4.fit_cells(stats, pi=pool_pi(stats, config), eps_rep=config.eps_rep, eps_assoc=config.eps_assoc,
                      eta=config.eta, V=config.V, gamma=config.gamma, seed=config.seed, attributes=attributes,
                      concepts=concepts)


def cell_q(fit: m4.M4Fit, stats: m4.CellStats) -> np.ndarray:
  """q of each cell of `stats` (at the cell's mean utility), in `stats.arrays()` order."""
  s, y, u, _ = stats.arrays()
  return fit.q(s, y, u)


def cells_report(stats: m4.CellStats, pi: np.ndarray, *, eps_rep: float, eps_assoc: float,
                 q: np.ndarray | None = None, total: float | None = None) -> dict:
  """`m4.bias_report` of the rows behind `stats`, each weighted by q of its cell (None: 1).

  `keep_rate` is the kept weight over `total` (default: the rows of `stats`), so a report of
  the kept rows can be read against the pool they came from.
  """
  s, y, _, count = stats.arrays()
  weights = count.astype(np.float64) if q is None else count * np.asarray(q, np.float64)
  report = m4.bias_report(s, y, weights, pi, eps_rep=eps_rep, eps_assoc=eps_assoc)
  total = float(count.sum()) if total is None else float(total)
  report.update(n=int(count.sum()), keep_rate=report["kept_weight"] / total if total else math.nan)
  return report


def _number(x) -> float | None:
  x = float(x)
  return x if math.isfinite(x) else None  # JSON has no NaN: an empty side of a parity gap is null


def named_report(report: dict, attributes: Sequence[str], concepts: Sequence[str]) -> dict:
  """A bias report as plain JSON keyed by attribute and concept names."""

  def table(a: np.ndarray) -> dict:
    return {attr: {con: _number(a[i, j]) for j, con in enumerate(concepts)} for i, attr in enumerate(attributes)}

  return {
      "rows": report["n"],
      "weight": _number(report["kept_weight"]),
      "keep_rate": _number(report["keep_rate"]),
      "representation": {a: _number(v) for a, v in zip(attributes, report["representation"])},
      "association": table(report["association"]),
      "demographic_parity_gap": table(report["demographic_parity_gap"]),
      "max_abs_association": _number(np.abs(report["association"]).max()) if len(concepts) else 0.0,
      "worst_violation": _number(report["worst_violation"]),
      "constraints_met": report["constraints_met"],
  }
