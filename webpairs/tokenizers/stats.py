"""How well a tokenizer fits text: fertility (tokens per character) and byte-fallback-free coverage."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from webpairs.tokenizers.tokenizer import Tokenizer


@dataclasses.dataclass(frozen=True)
class TextStats:
  captions: int
  chars: int  # characters of the normalised text
  tokens: int  # without EOS
  fallback_chars: int  # characters spelled with byte-fallback pieces

  @property
  def fertility(self) -> float:
    """Tokens per character of normalised text (lower is cheaper)."""
    return self.tokens / max(self.chars, 1)

  @property
  def coverage(self) -> float:
    """Share of characters that are inside vocabulary pieces, not byte fallback."""
    return 1.0 - self.fallback_chars / max(self.chars, 1)


def text_stats(tok: Tokenizer, texts: Sequence[str]) -> TextStats:
  ids = tok.encode(texts)
  lengths = np.fromiter(map(len, ids), np.int64, count=len(ids))
  flat = np.concatenate([np.asarray(row, np.int64) for row in ids]) if ids else np.zeros(0, np.int64)
  # Byte fallback spells a character as its UTF-8 bytes: count only the lead bytes.
  fallback = int(tok.byte_lead_mask()[flat].sum())
  chars = sum(len(tok.normalize(t)) for t in texts)
  return TextStats(captions=len(texts), chars=chars, tokens=int(lengths.sum()), fallback_chars=fallback)


def stats_by_language(tok: Tokenizer, texts: Mapping[str, Sequence[str]]) -> dict[str, TextStats]:
  return {lang: text_stats(tok, texts[lang]) for lang in sorted(texts)}


def fertility_spread(stats: Mapping[str, TextStats]) -> float:
  """Worst / best fertility over languages: 1 means every language costs the same per character."""
  values = [s.fertility for s in stats.values() if s.chars]
  return max(values) / min(values)
