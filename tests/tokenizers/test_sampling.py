"""Temperature sampling of languages: probabilities, exact quotas, seeded draws."""

from __future__ import annotations

import collections

import pytest

from webpairs.tokenizers import sampling

COUNTS = {"en": 900, "de": 90, "sw": 10}


def test_probs_follow_temperature():
  assert sampling.language_probs(COUNTS, 1.0) == pytest.approx({"en": 0.9, "de": 0.09, "sw": 0.01})
  assert sampling.language_probs(COUNTS, 0.0) == pytest.approx({lang: 1 / 3 for lang in COUNTS})
  w = {lang: n**0.3 for lang, n in COUNTS.items()}
  assert sampling.language_probs(COUNTS, 0.3) == pytest.approx({k: v / sum(w.values()) for k, v in w.items()})
  # Huge counts with T > 1 must not overflow.
  assert sampling.language_probs({"a": 10**12, "b": 1}, 50.0)["a"] == pytest.approx(1.0)
  with pytest.raises(ValueError):
    sampling.language_probs(COUNTS, -1)


def test_quotas_sum_exactly():
  for total in (1, 7, 100, 12345):
    for t in (0.0, 0.3, 1.0):
      quotas = sampling.language_quotas(COUNTS, total, t)
      assert sum(quotas.values()) == total
      probs = sampling.language_probs(COUNTS, t)
      assert all(abs(quotas[lang] - total * probs[lang]) < 1 for lang in COUNTS)
  assert sampling.language_quotas(COUNTS, 1000, 1.0) == {"en": 900, "de": 90, "sw": 10}


def _records():
  return [(f"{lang} caption {i}", lang) for lang, n in COUNTS.items() for i in range(n)]


def test_sample_meets_quotas_with_and_without_repeats():
  quotas = sampling.language_quotas(COUNTS, 300, 0.3)  # en down-sampled, sw repeated
  drawn = sampling.sample_captions(_records(), quotas, seed=1)
  per_lang = collections.Counter(lang for _, lang in drawn)
  assert per_lang == quotas
  en = [c for c, lang in drawn if lang == "en"]
  assert len(set(en)) == len(en)  # without replacement while the quota fits
  sw = collections.Counter(c for c, lang in drawn if lang == "sw")
  assert len(sw) == 10 and max(sw.values()) - min(sw.values()) <= 1  # every caption repeated evenly
  assert all(caption.startswith(lang) for caption, lang in drawn)


def test_sample_is_seeded():
  quotas = {"en": 50, "de": 20, "sw": 10}
  a = sampling.sample_captions(_records(), quotas, seed=3)
  assert a == sampling.sample_captions(_records(), quotas, seed=3)
  assert a != sampling.sample_captions(_records(), quotas, seed=4)
  assert {c for c, _ in a} != {c for c, _ in sampling.sample_captions(_records(), quotas, seed=4)}
