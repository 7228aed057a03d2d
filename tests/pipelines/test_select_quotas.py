"""Select on a generated 20k-row annotation table: language quotas hit their targets, caption
boilerplate and the score percentile are exact, planted duplicates are found.
"""

from __future__ import annotations

import collections
import pathlib

import numpy as np
import pyarrow.parquet as pq
import pytest

from webpairs.configs.curation import load_curation_config
from webpairs.pipelines.select import select as select_job

from tests.pipelines import annotation_tables

ONE_WORKER = ["--direct_num_workers=1"]
ROWS = 20_000


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[pathlib.Path, annotation_tables.Planted]:
  out = tmp_path_factory.mktemp("generated")
  planted = annotation_tables.write_tables(out, ROWS, num_files=4, seed=5, boilerplate_rate=0.01,
                                           score_column="clip_score")
  return out, planted


def _rows(sel_dir: pathlib.Path) -> list[dict]:
  return [r for p in sorted(sel_dir.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _shares(summary: dict) -> dict[str, float]:
  after = summary["lang_after"]
  return {l: n / summary["written"] for l, n in after.items()}


@pytest.fixture(scope="module")
def rebalanced(table, tmp_path_factory):
  out = tmp_path_factory.mktemp("rebalanced")
  config = load_curation_config("lang_rebalanced", ["filters.score_column=clip_score",
                                                    "filters.min_score_percentile=25"])
  return out, select_job.run_select(str(table[0]), config, str(out), ONE_WORKER, show_progress=False)


def test_low_resource_languages_are_raised_to_one_percent(table, rebalanced):
  out, summary = rebalanced
  targets = summary["quotas"]["targets"]
  shares = _shares(summary)
  assert set(shares) == set(targets)
  for lang, target in targets.items():
    assert abs(shares[lang] - target) < 0.01, (lang, shares[lang], target)
  for lang in ("hi", "sw", "yo"):  # 0.3-0.4% of the pool before
    assert summary["lang_pool"][lang] / sum(summary["lang_pool"].values()) < 0.006
    assert targets[lang] == pytest.approx(0.01) and abs(shares[lang] - 0.01) < 0.001
  rows = _rows(out)
  assert max(r["repeat"] for r in rows) >= 3 and sum(r["repeat"] for r in rows) == summary["written"]
  assert summary["written"] == pytest.approx(sum(summary["lang_pool"].values()), rel=0.01)


def test_score_percentile_cut_is_exact(table, rebalanced):
  out, summary = rebalanced
  ann = [r for p in sorted(table[0].glob("annotations-*.parquet")) for r in pq.read_table(p).to_pylist()]
  ok_scores = np.sort(np.array([a["clip_score"] for a in ann if a["status"] == "ok"], dtype=np.float32))
  cut = ok_scores[int(np.floor(0.25 * len(ok_scores)))]
  rows = _rows(out)
  flagged = ["min_score_percentile" in r["reasons"] for r in rows]
  assert flagged == [bool(np.float32(a["clip_score"]) < cut) for a in ann]
  assert summary["rule_failure_counts"]["min_score_percentile"] == sum(flagged)


def test_planted_duplicates_are_found(table, rebalanced):
  _, planted = table
  rows = _rows(rebalanced[0])
  has_image = planted.statuses != "missing_image"
  hashed = ~np.isin(planted.statuses, ["corrupt_image", "missing_image", "truncated_image"])
  exact = [r for r, s in planted.exact_of.items() if has_image[s] and has_image[r]]
  near = [r for r, s in planted.near_of.items() if hashed[s] and hashed[r]]
  copies = collections.defaultdict(list)
  for r in exact:
    copies[planted.exact_of[r]].append(r)
  for src, rs in copies.items():  # one of the identical rows (the best by filters, key) is no exact_dup
    group = [rows[i] for i in [src] + rs]
    assert len({g["cluster_id"] for g in group}) == 1
    assert sum("exact_dup" not in g["reasons"] for g in group) == 1
  found = sum(rows[r]["cluster_id"] == rows[planted.near_of[r]]["cluster_id"] for r in near)
  assert found / len(near) >= 0.95


def test_english_is_ninety_percent_and_boilerplate_captions_are_flagged(table, tmp_path):
  _, planted = table
  summary = select_job.run_select(str(table[0]), load_curation_config("en90"), str(tmp_path), ONE_WORKER,
                                  show_progress=False)
  shares = _shares(summary)
  assert abs(shares["en"] - 0.9) < 0.01
  others = {l: n for l, n in summary["lang_pool"].items() if l != "en"}
  for lang, n in others.items():
    expected = 0.1 * n / sum(others.values())
    assert abs(shares.get(lang, 0.0) - expected) < 0.01
  assert max(summary["quotas"]["factors"].values()) <= 1.0  # SigLIP 2 mix: down-sampling only
  rows = _rows(tmp_path)
  flagged = {i for i, r in enumerate(rows) if "caption_dup" in r["reasons"]}
  boiler = set(planted.boilerplate.tolist()) & set(np.flatnonzero(planted.statuses != "corrupt_image").tolist())
  assert flagged and flagged <= set(planted.boilerplate.tolist()) and len(flagged) >= 0.9 * len(boiler)
  assert summary["caption_dup"]["captions"] == 3
  counts = collections.Counter(r["reason"] for r in rows)
  assert dict(counts) == summary["reason_counts"] and sum(counts.values()) == ROWS
