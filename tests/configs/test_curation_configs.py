"""Curation configs: the shipped variants load, overrides apply, unknown keys are errors."""

from __future__ import annotations

import pytest

from webpairs.configs.curation import load_curation_config, shipped_configs


def test_shipped_configs_load_and_differ_as_documented():
  assert set(shipped_configs()) >= {"raw", "quality", "lang_rebalanced", "en90", "m4_balanced"}
  raw, quality = load_curation_config("raw"), load_curation_config("quality")
  rebalanced, en90 = load_curation_config("lang_rebalanced"), load_curation_config("en90")
  assert raw.dedup.exact and raw.dedup.near and raw.filters.min_side == 0 and not raw.quotas.enabled
  assert quality.filters.min_side > 0 and quality.dedup.caption_max_images > 0
  assert rebalanced.quotas.min_share == 0.01 and "sw" in rebalanced.quotas.raise_langs
  assert en90.quotas.shares.to_dict() == {"en": 0.9} and en90.filters.min_side == quality.filters.min_side


def test_m4_balanced_is_quality_plus_soft_m4_and_balance_overrides_parse():
  m4, quality, raw = load_curation_config("m4_balanced"), load_curation_config("quality"), load_curation_config("raw")
  assert m4.balance.enabled and m4.balance.V == 10.0 and m4.balance.eta == 0.9 and m4.balance.pi == ()
  assert m4.filters.to_dict() == quality.filters.to_dict() and m4.dedup.to_dict() == quality.dedup.to_dict()
  assert not raw.balance.enabled and raw.balance.V == float("inf") and raw.balance.seed != raw.seed
  c = load_curation_config("m4_balanced", ["balance.V=inf", "balance.pi=(0.3, 0.3)", "balance.concepts=doctor,nurse",
                                           "balance.eps_assoc=1e-3"])
  assert c.balance.V == float("inf") and c.balance.pi == (0.3, 0.3) and c.balance.concepts == ("doctor", "nurse")
  assert c.balance.eps_assoc == 0.001
  with pytest.raises(TypeError):
    load_curation_config("raw", ["balance.V=lots"])


def test_overrides_cast_to_the_field_type():
  c = load_curation_config("quality", ["filters.min_side=64", "filters.langs=en,de", "dedup.near=false",
                                       "quotas.shares={'en': 0.5}", "filters.score_column=1"])
  assert c.filters.min_side == 64 and c.filters.langs == ("en", "de") and c.dedup.near is False
  assert c.quotas.shares.to_dict() == {"en": 0.5} and c.filters.score_column == "1"


@pytest.mark.parametrize("override, error", [
    ("filters.min_sid=3", KeyError),
    ("nope.x=1", KeyError),
    ("filters.min_side=abc", TypeError),
    ("filters.min_side", ValueError),
])
def test_bad_overrides_are_clear_errors(override, error):
  with pytest.raises(error):
    load_curation_config("raw", [override])


def test_config_files_by_path_and_typos_in_them(tmp_path):
  good = tmp_path / "mine.py"
  good.write_text("from webpairs.configs.curation import raw\n"
                  "def get_config():\n  c = raw.get_config()\n  c.name = 'mine'\n  c.filters.min_words = 2\n"
                  "  return c\n")
  assert load_curation_config(str(good)).filters.min_words == 2
  typo = tmp_path / "typo.py"
  typo.write_text("from webpairs.configs.curation import raw\n"
                  "def get_config():\n  c = raw.get_config()\n  c.filters.min_word = 2\n  return c\n")
  with pytest.raises(KeyError, match="min_word"):
    load_curation_config(str(typo))
  with pytest.raises(ValueError, match="no shipped config"):
    load_curation_config("nosuch")
