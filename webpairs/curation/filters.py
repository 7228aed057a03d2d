"""Per-example quality filters of `select`: thresholds from the curation config on annotation columns.

A rule that cannot be evaluated for a row (no image size, no caption) does not fail
it: such rows already carry their annotate reject reason.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import numpy as np

Columns = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Filter:
  """One rule: `name` is the reject reason, `key` its config field, `off` the value that disables it."""

  name: str
  key: str
  columns: tuple[str, ...]
  off: object
  fails: Callable[[Columns, object], np.ndarray]


# Size rules judge the image as published: img2dataset's resize (and letterbox) changes `width`/`height`,
# annotate's `original_width`/`original_height` keep the size before it.
_SIZE = ("original_width", "original_height")


def _min_side(c: Columns, v) -> np.ndarray:
  return np.fmin(c[_SIZE[0]], c[_SIZE[1]]) < v


def _aspect(c: Columns, v) -> np.ndarray:
  lo = np.fmin(c[_SIZE[0]], c[_SIZE[1]])
  hi = np.fmax(c[_SIZE[0]], c[_SIZE[1]])
  with np.errstate(divide="ignore", invalid="ignore"):
    return hi / lo > v


def _below(column: str) -> Callable[[Columns, object], np.ndarray]:
  return lambda c, v: c[column] < v


def _above(column: str) -> Callable[[Columns, object], np.ndarray]:
  return lambda c, v: c[column] > v


def _flag(column: str) -> Callable[[Columns, object], np.ndarray]:
  return lambda c, v: np.asarray(c[column], dtype=bool) if v else np.zeros(len(c[column]), dtype=bool)


def _lang_allowed(c: Columns, v) -> np.ndarray:
  return ~np.isin(c["lang"], np.array(list(v), dtype=object))


UID_COLUMN = "extra.uid"  # DataComp's uid: 32 hex digits in the raw .json, kept in annotations' `extra`
# Filter columns that hold text, not numbers.
TEXT_COLUMNS = frozenset({"lang", UID_COLUMN})
_UID_DTYPE = np.dtype("u8,u8")


@functools.lru_cache(maxsize=4)
def _uid_subset_file(path: str) -> np.ndarray:
  """A DataComp subset file, memory-mapped: a sorted array of (high, low) uint64 halves of the uids."""
  subset = np.load(path, mmap_mode="r")
  if subset.dtype != _UID_DTYPE and not (subset.dtype.names and len(subset.dtype.names) == 2):
    raise ValueError(f"{path}: not a DataComp uid subset (dtype {subset.dtype}, expected {_UID_DTYPE})")
  return subset


def uid_pairs(uids) -> tuple[np.ndarray, np.ndarray]:
  """(n,) (high, low) uint64 pairs of hex uids, and which were valid 32-hex-digit uids."""
  keys = np.zeros(len(uids), dtype=_UID_DTYPE)
  valid = np.zeros(len(uids), dtype=bool)
  for i, uid in enumerate(uids):
    if isinstance(uid, str) and len(uid) == 32:
      try:
        keys[i] = (int(uid[:16], 16), int(uid[16:], 16))
        valid[i] = True
      except ValueError:
        pass
  return keys, valid


def _not_in_uid_subset(c: Columns, path) -> np.ndarray:
  subset = _uid_subset_file(str(path))
  keys, valid = uid_pairs(c[UID_COLUMN])
  keys = keys.astype(subset.dtype)
  if not len(subset):
    return np.ones(len(keys), dtype=bool)
  at = np.minimum(np.searchsorted(subset, keys), len(subset) - 1)
  return ~(valid & (subset[at] == keys))  # no uid is not in the subset: an allow-list, like `langs`


# In the order they are checked: the first failing one is a row's reason.
FILTERS: tuple[Filter, ...] = (
    Filter("min_side", "min_side", _SIZE, 0, _min_side),
    Filter("max_aspect_ratio", "max_aspect_ratio", _SIZE, 0.0, _aspect),
    Filter("min_caption_chars", "min_caption_chars", ("n_chars",), 0, _below("n_chars")),
    Filter("max_caption_chars", "max_caption_chars", ("n_chars",), 0, _above("n_chars")),
    Filter("min_words", "min_words", ("n_words",), 0, _below("n_words")),
    Filter("max_words", "max_words", ("n_words",), 0, _above("n_words")),
    Filter("min_letter_ratio", "min_letter_ratio", ("letter_ratio",), 0.0, _below("letter_ratio")),
    Filter("max_digit_ratio", "max_digit_ratio", ("digit_ratio",), 1.0, _above("digit_ratio")),
    Filter("max_symbol_ratio", "max_symbol_ratio", ("symbol_ratio",), 1.0, _above("symbol_ratio")),
    Filter("max_upper_ratio", "max_upper_ratio", ("upper_ratio",), 1.0, _above("upper_ratio")),
    Filter("max_repetition_ratio", "max_repetition_ratio", ("repetition_ratio",), 1.0, _above("repetition_ratio")),
    Filter("caption_url", "reject_urls", ("has_url",), False, _flag("has_url")),
    Filter("caption_html", "reject_html", ("has_html",), False, _flag("has_html")),
    Filter("lang_allowlist", "langs", ("lang",), (), _lang_allowed),
    Filter("min_lang_score", "min_lang_score", ("lang_score",), 0.0, _below("lang_score")),
    Filter("uid_subset", "uid_subset", (UID_COLUMN,), "", _not_in_uid_subset),
)
SCORE_RULE = "min_score_percentile"


def _is_off(value, off) -> bool:
  if isinstance(off, tuple):
    return len(value) == 0
  return value == off


def active(config: Mapping) -> list[Filter]:
  """The enabled filters of a `filters` config mapping, in check order."""
  unknown = set(config) - {f.key for f in FILTERS} - {"score_column", SCORE_RULE}
  if unknown:
    raise KeyError(f"unknown filter settings {sorted(unknown)}")
  return [f for f in FILTERS if not _is_off(config.get(f.key, f.off), f.off)]


def rule_names(config: Mapping) -> list[str]:
  names = [f.name for f in active(config)]
  if score_filter(config):
    names.append(SCORE_RULE)
  return names


def score_filter(config: Mapping) -> str | None:
  """The model-score column when the percentile filter is on, else None."""
  column = config.get("score_column", "")
  pct = float(config.get(SCORE_RULE, 0.0))
  if not pct:
    return None
  if not column:
    raise ValueError(f"filters.{SCORE_RULE}={pct} needs filters.score_column")
  if not 0.0 < pct < 100.0:
    raise ValueError(f"filters.{SCORE_RULE} must be in (0, 100), got {pct}")
  return column


def columns_needed(config: Mapping) -> list[str]:
  cols = {c for f in active(config) for c in f.columns}
  column = score_filter(config)
  if column:
    cols.add(column)
  return sorted(cols)


def evaluate(columns: Columns, config: Mapping, score_cut: float | None = None) -> dict[str, np.ndarray]:
  """{rule name: (n,) bool fails} for every enabled filter, in check order.

  Numeric columns hold NaN for nulls (comparisons with NaN are False: not failed).
  """
  out = {}
  for f in active(config):
    with np.errstate(invalid="ignore"):
      out[f.name] = np.asarray(f.fails(columns, config[f.key]), dtype=bool)
  column = score_filter(config)
  if column:
    if score_cut is None:
      raise ValueError("the score percentile filter needs the score cut")
    with np.errstate(invalid="ignore"):
      out[SCORE_RULE] = np.asarray(columns[column], dtype=np.float64) < score_cut
  return out


# The percentile cut is exact and deterministic: two mergeable histogram passes over
# an order-preserving 32-bit key of the float32 score (high 16 bits, then the low 16
# bits within the bin that holds the cut), instead of an approximate quantile sketch.
_HALF = 16
_BINS = 1 << _HALF


def score_keys(values: np.ndarray) -> np.ndarray:
  """float scores (no NaN) -> uint32 keys with the same order."""
  bits = np.asarray(values, dtype=np.float32).view(np.uint32)
  return np.where(bits >> np.uint32(31) == 1, ~bits, bits | np.uint32(1 << 31)).astype(np.uint32)


def key_value(key: int) -> float:
  """The float32 score of a key (inverse of score_keys)."""
  key = np.uint32(key)
  bits = key & np.uint32(0x7FFFFFFF) if key >> np.uint32(31) == 1 else ~key
  return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def key_histogram(keys: np.ndarray, coarse_bin: int | None = None) -> np.ndarray:
  """Counts per high half of the keys, or per low half within one high bin."""
  keys = np.asarray(keys, dtype=np.uint32)
  if coarse_bin is None:
    return np.bincount(keys >> np.uint32(_HALF), minlength=_BINS).astype(np.int64)
  inside = keys[(keys >> np.uint32(_HALF)) == coarse_bin]
  return np.bincount(inside & np.uint32(_BINS - 1), minlength=_BINS).astype(np.int64)


def drop_rank(hist: np.ndarray, percentile: float) -> int:
  """How many rows at most lie strictly below the cut."""
  return int(np.floor(percentile / 100.0 * int(hist.sum())))


def locate(hist: np.ndarray, rank: int) -> tuple[int, int]:
  """(bin holding the row of 0-based `rank` in key order, rank within that bin); (-1, 0) if empty."""
  cum = np.cumsum(hist)
  if not len(cum) or cum[-1] <= rank:
    return -1, 0
  b = int(np.searchsorted(cum, rank, side="right"))
  return b, rank - (int(cum[b - 1]) if b else 0)


def cut_value(coarse: tuple[int, int], fine_hist: np.ndarray) -> float:
  """The score of the row at the cut rank: rows with a smaller score fail the filter."""
  coarse_bin, rank = coarse
  if coarse_bin < 0:
    return float("-inf")
  fine_bin, _ = locate(fine_hist, rank)
  return key_value((coarse_bin << _HALF) | fine_bin)
