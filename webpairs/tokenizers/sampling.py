"""Temperature sampling of languages (mT5: p_l proportional to n_l^T) for tokenizer training."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping


def language_probs(counts: Mapping[str, int], temperature: float) -> dict[str, float]:
  """p_l proportional to n_l^T: T = 1 keeps the data mix, T = 0 is uniform over languages."""
  if temperature < 0:
    raise ValueError(f"temperature must be >= 0, got {temperature}")
  present = {lang: n for lang, n in counts.items() if n > 0}
  if not present:
    raise ValueError("no captions to sample from")
  # In log space so that large counts with T > 1 cannot overflow.
  logs = {lang: temperature * math.log(n) for lang, n in present.items()}
  top = max(logs.values())
  weights = {lang: math.exp(v - top) for lang, v in logs.items()}
  total = sum(weights.values())
  return {lang: weights[lang] / total for lang in sorted(weights)}


def language_quotas(counts: Mapping[str, int], total: int, temperature: float) -> dict[str, int]:
  """How many captions to draw per language so that they sum to `total` exactly.

  Largest-remainder rounding of total * p_l (ties broken by language name), so the result
  is deterministic. A quota above n_l means the language's captions are repeated.
  """
  if total < 1:
    raise ValueError(f"sample size must be >= 1, got {total}")
  probs = language_probs(counts, temperature)
  exact = {lang: total * p for lang, p in probs.items()}
  quotas = {lang: int(math.floor(x)) for lang, x in exact.items()}
  short = total - sum(quotas.values())
  for lang in sorted(exact, key=lambda lang: (quotas[lang] - exact[lang], lang))[:short]:
    quotas[lang] += 1
  return quotas


def sample_captions(
    records: Iterable[tuple[str, str]],
    quotas: Mapping[str, int],
    seed: int = 0,
) -> list[tuple[str, str]]:
  """Draws quotas[lang] (caption, lang) pairs per language from one pass over `records`.

  Each record gets a random key from a seeded stream; a language keeps its quota's
  smallest keys (a uniform sample without replacement, holding at most the quota in
  memory). When the quota exceeds the captions seen, all of them are repeated in key
  order. The result is shuffled with the same seed: same records and seed, same list.
  """
  rng = random.Random(seed)
  heaps: dict[str, list[tuple[float, int, str]]] = {lang: [] for lang, k in quotas.items() if k > 0}
  for index, (caption, lang) in enumerate(records):
    key = rng.random()
    heap = heaps.get(lang)
    if heap is None:
      continue
    # Max-heap on key via negation; the index breaks (improbable) ties deterministically.
    item = (-key, -index, caption)
    if len(heap) < quotas[lang]:
      heapq.heappush(heap, item)
    elif item > heap[0]:
      heapq.heapreplace(heap, item)
  out = []
  for lang in sorted(heaps):
    kept = [caption for _, _, caption in sorted(heaps[lang], reverse=True)]
    if not kept:
      continue
    repeats, rest = divmod(quotas[lang], len(kept))
    out.extend((caption, lang) for caption in kept * repeats + kept[:rest])
  rng.shuffle(out)
  return out
