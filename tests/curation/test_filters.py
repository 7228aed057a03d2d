"""Select's per-row filters and rule book: thresholds, nulls, reason order, the exact score cut."""

from __future__ import annotations

import numpy as np
import pytest

from webpairs.configs.curation import base_config
from webpairs.curation import filters, rules


def _cfg(**kw):
  cfg = base_config().filters.to_dict()
  cfg.update(kw)
  return cfg


def test_only_enabled_filters_run_and_nulls_never_fail():
  cols = {
      "original_width": np.array([100, 300, np.nan, 900]),
      "original_height": np.array([400, 300, np.nan, 100]),
      "n_words": np.array([2, 5, np.nan, 9]),
      "lang": np.array(["en", "de", None, "sw"], dtype=object),
  }
  cfg = _cfg(min_side=200, max_aspect_ratio=3.0, min_words=3, langs=("en", "sw"))
  out = filters.evaluate(cols, cfg)
  assert list(out) == ["min_side", "max_aspect_ratio", "min_words", "lang_allowlist"]
  assert out["min_side"].tolist() == [True, False, False, True]
  assert out["max_aspect_ratio"].tolist() == [True, False, False, True]
  assert out["min_words"].tolist() == [True, False, False, False]
  assert out["lang_allowlist"].tolist() == [False, True, True, False]
  assert filters.columns_needed(cfg) == ["lang", "n_words", "original_height", "original_width"]
  assert filters.evaluate(cols, _cfg()) == {}


def test_score_filter_needs_its_column():
  with pytest.raises(ValueError, match="score_column"):
    filters.score_filter(_cfg(min_score_percentile=20.0))
  assert filters.rule_names(_cfg(score_column="clip", min_score_percentile=20.0)) == [filters.SCORE_RULE]


def test_score_cut_is_the_exact_percentile():
  rng = np.random.default_rng(0)
  scores = np.concatenate([rng.normal(0.3, 0.05, 50_000), rng.normal(-2.0, 1.0, 777)]).astype(np.float32)
  keys = filters.score_keys(scores)
  assert (np.argsort(keys, kind="stable") == np.argsort(scores, kind="stable")).all()
  for pct in (1.0, 30.0, 99.5):
    coarse = filters.key_histogram(keys)
    where = filters.locate(coarse, filters.drop_rank(coarse, pct))
    cut = filters.cut_value(where, filters.key_histogram(keys, where[0]))
    rank = int(np.floor(pct / 100 * len(scores)))
    assert cut == np.sort(scores)[rank]
    assert (scores < cut).sum() <= rank < (scores <= cut).sum()


def test_rule_book_reason_is_the_first_failing_rule_and_all_are_counted():
  book = rules.RuleBook(["xm3600"], ["min_side", "min_words"])
  bit = book.bit
  masks = np.array([0, bit(rules.STATUS) | bit("min_side"), bit("min_words") | bit(rules.NEAR_DUP),
                    bit("eval_overlap:xm3600") | bit("min_side"), bit(rules.LANG_QUOTA)], np.uint64)
  status = ["ok", "corrupt_image", "ok", "ok", "ok"]
  assert book.reason(masks, status) == ["ok", "corrupt_image", "min_words", "eval_overlap:xm3600", "lang_quota"]
  assert book.all_reasons(masks, status)[1] == ["corrupt_image", "min_side"]
  assert book.failure_counts(masks, status) == {"corrupt_image": 1, "min_side": 2, "min_words": 1, "near_dup": 1,
                                                "eval_overlap:xm3600": 1, "lang_quota": 1}
  before = book.before_dedup
  assert (masks & before != 0).tolist() == [False, True, True, True, False]


def test_uid_subset_keeps_listed_uids_only(tmp_path):
  uids = ["0" * 31 + "1", "f" * 32, "00000000000000020000000000000003"]
  # DataComp's subset format: sorted (high, low) uint64 halves; the subset holds uids[0] and uids[1].
  np.save(tmp_path / "s.npy", np.array(sorted((int(u[:16], 16), int(u[16:], 16)) for u in uids[:2]), "u8,u8"))
  cols = {"extra.uid": np.array(uids[:2] + [uids[2], None, "not-hex" * 4 + "abcd"], dtype=object)}
  cfg = _cfg(uid_subset=str(tmp_path / "s.npy"))
  assert filters.columns_needed(cfg) == ["extra.uid"]
  assert filters.evaluate(cols, cfg)["uid_subset"].tolist() == [False, False, True, True, True]
