"""The ordered rules of `select` as bits of a per-row mask: the lowest set bit names the reason.

Order: the annotate status, eval-set overlap, the config's filters, exact and near
duplicates, semantic duplicates (SemDeDup's verdicts), caption duplicates, language quotas, M4 balancing. A row fails every rule whose
bit is set; all of them are counted, the first is its `reason`. M4 comes last because it
bounds the bias of what is written: it sees the pool after the quotas, with their repeats.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from webpairs.curation import reasons

STATUS = "status"  # bit 0: the annotate status is not ok (the reason is the status itself)
EVAL_PREFIX = "eval_overlap:"
EXACT_DUP = "exact_dup"
NEAR_DUP = "near_dup"
SEMANTIC_DUP = "semantic_dup"
CAPTION_DUP = "caption_dup"
LANG_QUOTA = "lang_quota"
M4_BALANCE = "m4_balance"
MAX_RULES = 64


class RuleBook:
  """Rule names in check order and their bits."""

  def __init__(self, eval_names: Sequence[str] = (), filter_names: Sequence[str] = ()):
    self.names = ([STATUS] + [EVAL_PREFIX + n for n in eval_names] + list(filter_names)
                  + [EXACT_DUP, NEAR_DUP, SEMANTIC_DUP, CAPTION_DUP, LANG_QUOTA, M4_BALANCE])
    if len(set(self.names)) != len(self.names):
      raise ValueError(f"rule names repeat: {self.names}")
    if len(self.names) > MAX_RULES:
      raise ValueError(f"{len(self.names)} rules; at most {MAX_RULES} fit the mask")
    self._bits = {name: np.uint64(1 << i) for i, name in enumerate(self.names)}
    self.eval_names = list(eval_names)
    self.filter_names = list(filter_names)

  def bit(self, name: str) -> np.uint64:
    return self._bits[name]

  @property
  def before_dedup(self) -> np.uint64:
    """Bits of the rules that decide whether a row may be a cluster's canonical example."""
    bits = np.uint64(0)
    for name in [STATUS] + [EVAL_PREFIX + n for n in self.eval_names] + self.filter_names:
      bits |= self._bits[name]
    return bits

  def _label(self, name: str, status: str) -> str:
    return status if name == STATUS else name

  def reason(self, masks: np.ndarray, statuses: Sequence[str]) -> list[str]:
    """The first failing rule of each row, or 'ok'."""
    masks = np.asarray(masks, np.uint64)
    out = np.full(len(masks), reasons.OK, dtype=object)
    todo = masks != 0
    for name in self.names:
      hit = todo & ((masks & self._bits[name]) != 0)
      if name == STATUS:
        out[hit] = np.asarray(statuses, dtype=object)[hit]
      else:
        out[hit] = name
      todo &= ~hit
    return out.tolist()

  def all_reasons(self, masks: np.ndarray, statuses: Sequence[str]) -> list[list[str]]:
    masks = np.asarray(masks, np.uint64)
    out: list[list[str]] = [[] for _ in range(len(masks))]
    for name in self.names:
      for i in np.flatnonzero((masks & self._bits[name]) != 0).tolist():
        out[i].append(self._label(name, statuses[i]))
    return out

  def failure_counts(self, masks: np.ndarray, statuses: Sequence[str]) -> dict[str, int]:
    """{rule: rows failing it}, every failure counted (a row can count under several rules)."""
    masks = np.asarray(masks, np.uint64)
    counts: dict[str, int] = {}
    for name in self.names:
      hit = (masks & self._bits[name]) != 0
      if name == STATUS:
        for s in np.asarray(statuses, dtype=object)[hit].tolist():
          counts[s] = counts.get(s, 0) + 1
      elif hit.any():
        counts[name] = int(hit.sum())
    return counts
