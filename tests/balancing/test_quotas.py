"""Language quota maths: target shares, output sizes, the hash keep rule."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from webpairs.balancing import quotas

COUNTS = {"en": 6000, "de": 2000, "ja": 1500, "sw": 30, "yo": 20, "hi": 450}


def test_fixed_share_leaves_the_rest_in_proportion():
  t = quotas.target_shares(COUNTS, {"en": 0.9})
  assert t["en"] == pytest.approx(0.9)
  assert t["de"] / t["ja"] == pytest.approx(2000 / 1500)
  assert sum(t.values()) == pytest.approx(1.0)


def test_low_resource_languages_are_raised_by_water_filling():
  t = quotas.target_shares(COUNTS, {}, min_share=0.05, raise_langs=("sw", "yo", "hi", "xx"))
  assert t["sw"] == t["yo"] == pytest.approx(0.05)
  assert t["hi"] == pytest.approx(0.05)  # 4.5% of the pool: raised as well
  assert t["en"] / t["de"] == pytest.approx(3.0) and sum(t.values()) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="infeasible"):
    quotas.target_shares(COUNTS, {"en": 0.9}, min_share=0.05, raise_langs=("sw", "yo", "hi"))


def test_downsample_size_needs_no_repeats_and_pool_size_keeps_the_total():
  down = quotas.plan_quotas(COUNTS, quotas.QuotaConfig(shares={"en": 0.9}, size=quotas.DOWNSAMPLE))
  assert max(down.factors.values()) == pytest.approx(1.0) and down.factors["en"] == pytest.approx(1.0)
  assert sum(down.expected().values()) == pytest.approx(6000 / 0.9)
  pool = quotas.plan_quotas(COUNTS, quotas.QuotaConfig(min_share=0.01, raise_langs=("sw", "yo")))
  assert sum(pool.expected().values()) == pytest.approx(sum(COUNTS.values()))
  assert pool.factors["yo"] == pytest.approx(0.01 * sum(COUNTS.values()) / 20)


def test_max_repeat_caps_upsampling_and_says_so():
  plan = quotas.plan_quotas({"en": 10000, "yo": 5}, quotas.QuotaConfig(min_share=0.01, raise_langs=("yo",),
                                                                        max_repeat=3))
  assert plan.factors["yo"] == 3.0 and plan.capped == ["yo"]
  plan = quotas.plan_quotas({"en": 10}, quotas.QuotaConfig(shares={"en": 0.5, "fr": 0.5}))
  assert plan.missing == ["fr"] and plan.factors == {"en": 1.0}


def test_repeats_have_the_expected_mean_and_are_deterministic():
  ids = [f"/data/{i % 7}.tar#{i:06d}" for i in range(40000)]
  u = quotas.key_uniforms(ids, seed=3)
  for f in (0.25, 1.0, 2.6):
    r = quotas.repeats(np.full(len(ids), f), u)
    assert set(np.unique(r)) <= {int(np.floor(f)), int(np.floor(f)) + 1}
    assert r.mean() == pytest.approx(f, abs=0.01)
  assert (quotas.key_uniforms(ids, seed=3) == u).all() and not (quotas.key_uniforms(ids, seed=4) == u).all()
  h = int.from_bytes(hashlib.blake2b(f"3:{ids[0]}".encode(), digest_size=8).digest(), "big")
  assert u[0] == pytest.approx(h / 2**64, abs=2**-52)


@pytest.mark.parametrize("config", [{"shares": {"cmn": 0.1}}, {"raise_langs": ("fil",), "min_share": 0.01},
                                    {"shares": {"en": 0.5, "nb": 0.1}}])
def test_a_quota_for_a_fine_code_is_a_clear_error(config):
  # Rows carry coarse codes: a share for 'cmn' would silently find no row ('missing').
  with pytest.raises(ValueError, match="coarse codes rows carry.*counts as"):
    quotas.QuotaConfig.from_mapping(config)
  assert quotas.QuotaConfig.from_mapping({"shares": {"zh": 0.1, "tl": 0.1, "no": 0.1, "und": 0.1}}).shares["zh"] == 0.1
