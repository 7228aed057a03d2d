"""The select job's plan and the per-file elements that travel between its stages.

Row ids are int64: file index << 32 | row index, so a tie between equal hashes breaks
the same way on every run and results route back to their annotation file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import NamedTuple

import ml_collections
import numpy as np

from webpairs.balancing import m4_pool
from webpairs.balancing import quotas as quotas_lib
from webpairs.curation import dedup, eval_embeddings, eval_index, filters
from webpairs.curation.rules import RuleBook
from webpairs.formats import selection
from webpairs.pipelines.select.select_balance import BalancePlan, make_balance_plan

ROW_BITS = 32
ROW_MASK = (1 << ROW_BITS) - 1


def row_ids(index: int, n: int) -> np.ndarray:
  return (np.int64(index) << ROW_BITS) | np.arange(n, dtype=np.int64)


class FileRows:
  """Row ids of one annotation file, stored as its index and the rows in the smallest unsigned dtype.

  What the hash batches of a file carry through select's shuffles instead of int64 ids:
  2 bytes a row for files of under 65,536 rows, not 8. numpy reads it as the int64 ids
  (`np.asarray`, `np.concatenate`), so a group's batches concatenate as before.
  """

  __slots__ = ("index", "rows")

  def __init__(self, index: int, rows: np.ndarray):
    self.index = int(index)
    self.rows = rows.astype(np.min_scalar_type(int(rows.max()) if len(rows) else 0), copy=False)

  @classmethod
  def of(cls, ids: np.ndarray) -> FileRows:
    """int64 ids, all of one file -> FileRows."""
    index = int(ids[0] >> ROW_BITS) if len(ids) else 0
    if np.any((ids >> ROW_BITS) != index):
      raise ValueError("ids of more than one file")
    return cls(index, ids & ROW_MASK)

  def ids(self) -> np.ndarray:
    return (np.int64(self.index) << ROW_BITS) | self.rows.astype(np.int64)

  def __array__(self, dtype=None, copy=None):  # pylint: disable=unused-argument
    ids = self.ids()
    return ids if dtype is None else ids.astype(dtype)

  def __len__(self) -> int:
    return len(self.rows)

  def __reduce__(self):
    return FileRows, (self.index, self.rows)


@dataclasses.dataclass(frozen=True)
class SelectPlan:
  """Everything the workers need, as plain picklable values."""

  config: dict
  config_hash: str
  rules: RuleBook
  matchers: tuple[tuple[str, eval_index.Matcher], ...]
  partitions: int
  score_column: str | None
  score_percentile: float
  quota: quotas_lib.QuotaConfig | None
  balance: BalancePlan | None = None
  embedding_matchers: tuple[tuple[str, eval_embeddings.EmbeddingMatcher], ...] = ()

  @property
  def dedup(self) -> dict:
    return self.config["dedup"]

  @property
  def filters(self) -> dict:
    return self.config["filters"]

  @property
  def seed(self) -> int:
    return int(self.config["seed"])


def config_hash(config: dict) -> str:
  blob = json.dumps({"config": config, "format": selection.FORMAT_VERSION}, sort_keys=True, default=list)
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def make_plan(config: ml_collections.ConfigDict, indexes: Sequence[eval_index.EvalIndex],
              partitions: int, indicators: dict | None = None,
              embedding_indexes: Sequence[eval_embeddings.EmbeddingIndex] = ()) -> SelectPlan:
  """Checks the config and turns it into plain values; `partitions` only groups work.

  `indicators`: the attr_s / concept_y names the annotation files record (for M4 balancing).
  """
  cfg = config.to_dict()
  d = cfg["dedup"]
  dedup.window_bands(int(d["band_bits"]), int(d["window_band_stride"]))  # checks both
  if d["threshold"] < 0 or d["window_threshold"] < 0 or d["bucket_window"] < 1 or d["caption_max_images"] < 0:
    raise ValueError(f"bad dedup settings: {d}")
  names = [ix.name for ix in indexes] + [ix.name for ix in embedding_indexes]
  if embedding_indexes and not cfg["eval"].get("scores_dir"):
    raise ValueError("eval.embedding_indexes need eval.scores_dir: the `curate score --embeddings` output")
  if len(set(names)) != len(names):
    raise ValueError(f"two eval indexes share a name: {names}")
  quota = quotas_lib.QuotaConfig.from_mapping(cfg["quotas"]) if cfg["quotas"]["enabled"] else None
  balance = None
  if cfg["balance"]["enabled"]:
    balance = make_balance_plan(m4_pool.BalanceConfig.from_mapping(cfg["balance"]), indicators)
    if quota is not None and balance.config.seed == int(cfg["seed"]):
      # Both keep rules hash f"{seed}:{id}": one seed would drop the same rows twice over.
      raise ValueError(f"balance.seed and seed are both {cfg['seed']}: the quota and M4 keep rules "
                       "need independent hashes; give balance another seed")
  return SelectPlan(
      config=cfg,
      config_hash=config_hash(cfg),
      rules=RuleBook(names, filters.rule_names(cfg["filters"])),
      matchers=tuple((ix.name, eval_index.Matcher(ix, int(cfg["eval"]["threshold"]))) for ix in indexes),
      partitions=partitions,
      score_column=filters.score_filter(cfg["filters"]),
      score_percentile=float(cfg["filters"]["min_score_percentile"]),
      quota=quota,
      balance=balance,
      embedding_matchers=tuple((ix.name, eval_embeddings.EmbeddingMatcher(ix, float(cfg["eval"]["embedding_threshold"])))
                               for ix in embedding_indexes),
  )


def _codes(n: int) -> np.dtype:
  """The smallest unsigned dtype for codes 0..n-1."""
  return np.min_scalar_type(max(n - 1, 0))


def pack_rows(masks: np.ndarray, lang: list[str]) -> tuple:
  """(masks, lang) per row -> (distinct masks, mask codes, distinct langs, lang codes): 1-2 bytes a row
  instead of about 13 when pickled (an 8-byte mask and a short string each), for the few distinct values."""
  values, inverse = np.unique(masks, return_inverse=True)
  names = sorted(set(lang))
  index = {name: i for i, name in enumerate(names)}
  lang_codes = np.fromiter((index[l] for l in lang), dtype=_codes(len(names)), count=len(lang))
  return values, inverse.reshape(-1).astype(_codes(len(values))), names, lang_codes


def unpack_rows(values: np.ndarray, mask_codes: np.ndarray, names: list[str],
                lang_codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
  """pack_rows' inverse: equal masks (uint64) and langs, each distinct lang one shared str."""
  return values[mask_codes], [names[i] for i in lang_codes.tolist()]


def _file_state(path: str, *packed) -> FileState:
  return FileState(path, *unpack_rows(*packed))


def _resolved(path: str, cluster: dict, canonical: int, *packed) -> Resolved:
  masks, lang = unpack_rows(*packed)
  return Resolved(path, masks, lang, cluster, canonical)


class FileState(NamedTuple):
  """One annotation file after the per-row rules: small enough to be a Beam element."""

  path: str
  masks: np.ndarray  # uint64 rule bits per row
  lang: list[str]

  def __reduce__(self):
    # Beam pickles elements it has no coder for: the rows' masks and languages as codes.
    return _file_state, (self.path, *pack_rows(self.masks, self.lang))


class Resolved(NamedTuple):
  """One annotation file after every rule but the quotas and M4."""

  path: str
  masks: np.ndarray
  lang: list[str]
  cluster: dict[int, str]  # row -> cluster id, for rows in a duplicate cluster
  canonical: int  # rows that represent a cluster of two or more

  def __reduce__(self):
    return _resolved, (self.path, self.cluster, self.canonical, *pack_rows(self.masks, self.lang))
