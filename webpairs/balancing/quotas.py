"""Language quotas: target shares per language, reached by deterministic down-sampling and repeats.

A language with target share s and n examples in a pool of target size T gets the
factor f = s * T / n. Each example then gets floor(f) copies, plus one more when its
uniform u < frac(f), where u = blake2b-64(f"{seed}:{source}#{key}") / 2^64 (the keep
rule of balancing/m4 too), so the choice never depends on order, workers or reruns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from webpairs.balancing.m4.hashing import key_uniform
from webpairs.curation import lid

UND = "und"  # rows without a language
POOL = "pool"  # output size = the pool that passed every other rule
DOWNSAMPLE = "downsample"  # the largest output size that needs no repeats
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class QuotaConfig:
  shares: Mapping[str, float] = dataclasses.field(default_factory=dict)  # fixed target shares
  min_share: float = 0.0  # floor for each of `raise_langs`
  raise_langs: tuple[str, ...] = ()
  size: str = POOL
  examples: int = 0  # > 0: fixed output size
  max_repeat: int = 10

  def __post_init__(self):
    if self.size not in (POOL, DOWNSAMPLE):
      raise ValueError(f"quotas.size must be {POOL!r} or {DOWNSAMPLE!r}, got {self.size!r}")
    if any(s < 0 for s in self.shares.values()) or sum(self.shares.values()) > 1 + _EPS:
      raise ValueError(f"quota shares must be >= 0 and add up to at most 1: {dict(self.shares)}")
    if not 0.0 <= self.min_share < 1.0 or self.max_repeat < 1 or self.examples < 0:
      raise ValueError(f"bad quota settings: {self}")
    # Rows carry coarse codes (lid.fold): a share for 'cmn' or 'fil' would find no row at all.
    fine = {lang: lid.fold(lang) for lang in (*self.shares, *self.raise_langs) if lid.fold(lang) != lang}
    if fine:
      raise ValueError("quota languages must be the coarse codes rows carry (webpairs.curation.lid.fold): "
                       + ", ".join(f"{k!r} counts as {v!r}" for k, v in sorted(fine.items())))

  @classmethod
  def from_mapping(cls, m: Mapping) -> "QuotaConfig":
    return cls(shares={str(k): float(v) for k, v in dict(m.get("shares", {})).items()},
               min_share=float(m.get("min_share", 0.0)), raise_langs=tuple(m.get("raise_langs", ())),
               size=str(m.get("size", POOL)), examples=int(m.get("examples", 0)),
               max_repeat=int(m.get("max_repeat", 10)))


@dataclasses.dataclass
class QuotaPlan:
  """Per-language factors for one pool, and what they are expected to give."""

  counts: dict[str, int]  # pool examples per language
  targets: dict[str, float]  # target shares
  factors: dict[str, float]  # expected copies per example
  total: float  # target output size
  capped: list[str] = dataclasses.field(default_factory=list)  # factor cut to max_repeat: share missed
  missing: list[str] = dataclasses.field(default_factory=list)  # a share was asked, no examples exist

  def factor(self, lang: str) -> float:
    return self.factors.get(lang, 1.0)

  def expected(self) -> dict[str, float]:
    return {l: self.counts[l] * self.factors[l] for l in self.counts}

  def to_dict(self) -> dict:
    return {
        "pool": dict(sorted(self.counts.items())),
        "targets": {l: round(v, 6) for l, v in sorted(self.targets.items())},
        "factors": {l: round(v, 6) for l, v in sorted(self.factors.items())},
        "target_total": round(self.total, 3),
        "capped": self.capped,
        "missing": self.missing,
    }


def identity_plan(counts: Mapping[str, int]) -> QuotaPlan:
  """Quotas off: every example once."""
  counts = {l: int(n) for l, n in counts.items() if n > 0}
  n = sum(counts.values())
  return QuotaPlan(counts, {l: c / n for l, c in counts.items()} if n else {}, dict.fromkeys(counts, 1.0), n)


def target_shares(counts: Mapping[str, int], shares: Mapping[str, float], min_share: float = 0.0,
                  raise_langs: Iterable[str] = ()) -> dict[str, float]:
  """Target share per present language.

  Languages in `shares` get theirs; the others split what is left in proportion to
  their counts, except that each of `raise_langs` gets at least `min_share` (the rest
  shrink to make room; water-filling, since shrinking can push another one below).
  """
  present = {l: int(n) for l, n in counts.items() if n > 0}
  fixed = {l: float(s) for l, s in shares.items() if l in present}
  free = sorted(l for l in present if l not in fixed)
  rest = 1.0 - sum(fixed.values())
  to_raise = set(raise_langs) & set(free)
  raised: dict[str, float] = {}
  while True:
    pool = [l for l in free if l not in raised]
    mass = rest - min_share * len(raised)
    if mass < -_EPS:
      raise ValueError(f"infeasible quotas: {len(raised)} languages at {min_share} plus fixed shares "
                       f"{dict(fixed)} exceed 1")
    pool_n = sum(present[l] for l in pool)
    spread = {l: mass * present[l] / pool_n for l in pool} if pool_n else {}
    low = [l for l in pool if l in to_raise and spread[l] < min_share]
    if not low:
      break
    raised.update(dict.fromkeys(low, min_share))
  targets = {**fixed, **raised, **spread}
  total = sum(targets.values())
  if total <= 0:
    raise ValueError(f"quota targets give every present language share 0: {targets}")
  return {l: targets[l] / total for l in sorted(targets)}  # leftover mass with nobody to take it


def plan_quotas(counts: Mapping[str, int], config: QuotaConfig) -> QuotaPlan:
  """Factors that turn the pool `counts` into the configured shares."""
  present = {l: int(n) for l, n in counts.items() if n > 0}
  if not present:
    return QuotaPlan({}, {}, {}, 0.0, missing=sorted(config.shares))
  targets = target_shares(present, config.shares, config.min_share, config.raise_langs)
  if config.examples:
    total = float(config.examples)
  elif config.size == DOWNSAMPLE:
    total = min(present[l] / s for l, s in targets.items() if s > 0)
  else:
    total = float(sum(present.values()))
  factors, capped = {}, []
  for lang, n in present.items():
    f = targets[lang] * total / n
    if f > config.max_repeat:
      f = float(config.max_repeat)
      capped.append(lang)
    factors[lang] = f
  return QuotaPlan(present, targets, factors, total, sorted(capped), sorted(set(config.shares) - set(present)))


def key_uniforms(ids: Sequence[str], seed: int) -> np.ndarray:
  """(n,) float64 uniforms in [0, 1): blake2b-64 of f"{seed}:{id}" / 2^64, M4's keep rule too."""
  return key_uniform(ids, seed)


def repeats(factors: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
  """Copies per example: floor(f), plus one when u < frac(f). 0 means dropped."""
  factors = np.asarray(factors, np.float64)
  whole = np.floor(factors)
  return (whole + (np.asarray(uniforms) < factors - whole)).astype(np.int32)


def shares_of(counts: Mapping[str, float]) -> dict[str, float]:
  total = sum(counts.values())
  return {l: (v / total if total else math.nan) for l, v in sorted(counts.items())}
