"""The plan: keys, defect counts and links, all decided from the seed."""

import collections

import pytest

from webpairs.curation import reasons
from webpairs.demo.sample import defects
from webpairs.demo.sample import plan as plan_lib


def test_keys_follow_img2dataset():
  # img2dataset's default 10000 examples per shard gives its familiar 9-digit keys.
  assert plan_lib.example_key(0, 12, 10000) == "000000012"
  assert plan_lib.example_key(3, 7, 10000) == "000030007"
  assert plan_lib.example_key(2, 5, 100) == "0000205"
  assert plan_lib.shard_name(3) == "00003.tar"


def test_same_seed_same_plan_other_seed_other_plan():
  a = plan_lib.plan_sample(150, seed=4, shard_size=50)
  assert a == plan_lib.plan_sample(150, seed=4, shard_size=50)
  b = plan_lib.plan_sample(150, seed=5, shard_size=50)
  assert [e.caption for e in a.examples] != [e.caption for e in b.examples]


def test_every_defect_at_default_rates():
  p = plan_lib.plan_sample(400, seed=0, shard_size=100)
  counts = collections.Counter(e.defect for e in p.examples)
  for d in defects.DEFECTS:
    assert counts[d] >= 1, d
  assert counts[defects.TRUNCATED_TAR] == 1
  assert p.examples[-1].defect == defects.TRUNCATED_TAR
  # Counts are exact shares, not draws.
  assert counts[defects.NEAR_DUP] == round(defects.DEFAULT_RATES[defects.NEAR_DUP] * 400)


def test_expected_statuses_are_reject_reasons():
  assert set(defects.EXPECTED_STATUS) == set(defects.DEFECTS)
  assert set(defects.EXPECTED_STATUS.values()) <= set(reasons.ALL_STATUSES)


def test_duplicates_point_to_earlier_clean_originals():
  p = plan_lib.plan_sample(600, seed=3, shard_size=100, rates={"exact_dup": 0.1, "near_dup": 0.1})
  dups = [e for e in p.examples if e.defect in (defects.EXACT_DUP, defects.NEAR_DUP)]
  assert len(dups) == 120
  for e in dups:
    orig = p.examples[e.dup_of]
    assert e.dup_of < e.index and orig.defect == defects.NONE and not orig.is_real
    assert (e.edit is not None) == (e.defect == defects.NEAR_DUP)
  kinds = collections.Counter(e.edit.kind for e in dups if e.edit)
  assert set(kinds) == set(defects.NEAR_DUP_KINDS)


def test_rates_can_be_zero_and_truncation_off():
  zero = {d: 0.0 for d in defects.DEFAULT_RATES}
  p = plan_lib.plan_sample(120, seed=1, shard_size=50, rates=zero, truncated_tar=False)
  assert {e.defect for e in p.examples} == {defects.NONE}
  # A single shard never gets a truncation: there would be nothing intact to compare with.
  p = plan_lib.plan_sample(40, seed=1, shard_size=50, rates=zero)
  assert {e.defect for e in p.examples} == {defects.NONE}


def test_bad_rates_are_refused():
  with pytest.raises(ValueError, match="no rate"):
    plan_lib.resolve_rates({"broken_tar": 0.1})
  with pytest.raises(ValueError, match="under 0.9"):
    plan_lib.resolve_rates({"exact_dup": 0.5, "near_dup": 0.5})


def test_caption_fields_per_defect():
  p = plan_lib.plan_sample(400, seed=2, shard_size=100)
  for e in p.examples:
    if e.defect == defects.MISSING_CAPTION:
      assert e.txt is None and not e.json_has_caption and e.caption is None
    elif e.defect == defects.INVALID_UTF8:
      assert e.caption is None and e.json_caption is None and e.json_has_caption
      with pytest.raises(UnicodeDecodeError):
        e.txt.decode("utf-8")
    else:
      assert e.txt.decode("utf-8") == e.caption == e.json_caption
    assert (e.lang is None) == (e.defect in (defects.MISSING_CAPTION, defects.INVALID_UTF8,
                                             defects.EMPTY_CAPTION, defects.JUNK_CAPTION))
  share = sum(e.page_lang is not None for e in p.examples) / len(p.examples)
  assert 0.35 < share < 0.65
