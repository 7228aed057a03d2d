"""Caption keyword annotators: perceived-gender attributes s and occupation concepts y per caption.

The lexicons live in lexicons.json (11 languages: en de es fr id ja ru tr zh sw hi). Captions
and terms are NFKC-normalised and case-folded; Turkish also folds dotless i so 'KADIN' finds
'kadın'. Space-separated scripts are tokenised into words (letters, combining marks and digits,
so Devanagari vowel signs stay inside words) and terms match whole tokens, so 'he' is never
found in 'the'. Japanese and Chinese are matched as substrings, longest term first, with
exclusions consumed first (zh 其他 'other' hides the 他 'he' inside it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import re
import sys
import unicodedata
from collections.abc import Sequence
from typing import Protocol

import numpy as np

LEXICON_PATH = pathlib.Path(__file__).with_name("lexicons.json")
MIN_STEM = 4  # shortest stem a 'stem*' term may have


def _mark_class() -> str:
  """Combining marks of the BMP: Python's \\w lacks them, which would split Devanagari words."""
  ranges, start, prev = [], None, None
  for cp in range(sys.maxunicode if sys.maxunicode < 0x10000 else 0x10000):
    if unicodedata.category(chr(cp)).startswith("M"):
      if start is None:
        start = cp
      elif cp != prev + 1:
        ranges.append((start, prev))
        start = cp
      prev = cp
  ranges.append((start, prev))
  return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_WORD = re.compile(rf"[\w{_mark_class()}]+")


def base_lang(lang: str | None) -> str:
  """'zh-Hans' / 'pt_BR' / 'EN' -> 'zh' / 'pt' / 'en'."""
  return re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]


def normalise(text: str, lang: str) -> str:
  text = unicodedata.normalize("NFKC", text).casefold()
  if lang == "tr":  # 'I'.casefold() is 'i' and 'İ' gives 'i' + U+0307: fold both forms of i together
    text = text.replace("\u0307", "").replace("ı", "i")
  return text


def tokenize(text: str) -> list[str]:
  return _WORD.findall(text)


class _WordMatcher:
  """Greedy longest-phrase matching over tokens; 'stem*' terms match a token prefix."""

  def __init__(self, terms: dict[str, frozenset[int]]):
    self.phrases: dict[str, list[tuple[tuple[str, ...], frozenset[int]]]] = {}
    self.stems: dict[str, frozenset[int]] = {}
    for term, labels in terms.items():
      toks = tuple(term.split())
      if toks[-1].endswith("*"):
        stem = toks[-1][:-1]
        if len(toks) != 1 or len(stem) < MIN_STEM:
          raise ValueError(f"stem term {term!r}: one token with at least {MIN_STEM} characters before '*'")
        self.stems[stem] = self.stems.get(stem, frozenset()) | labels
      else:
        self.phrases.setdefault(toks[0], []).append((toks, labels))
    for options in self.phrases.values():
      options.sort(key=lambda o: -len(o[0]))
    self.stem_lengths = sorted({len(s) for s in self.stems}, reverse=True)

  def labels(self, text: str) -> set[int]:
    toks, found, i = tokenize(text), set(), 0
    while i < len(toks):
      step = 1
      for phrase, labels in self.phrases.get(toks[i], ()):
        if tuple(toks[i:i + len(phrase)]) == phrase:
          found |= labels
          step = len(phrase)
          break
      else:
        for n in self.stem_lengths:  # longest stem first: 'babaanne*' before 'baba'
          labels = self.stems.get(toks[i][:n])
          if labels is not None:
            found |= labels
            break
      i += step
    return found


class _SubstringMatcher:
  """Leftmost-longest substring matching for scripts written without spaces."""

  def __init__(self, terms: dict[str, frozenset[int]]):
    self.terms = terms
    alternatives = sorted(terms, key=lambda t: (-len(t), t))
    self.pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

  def labels(self, text: str) -> set[int]:
    found = set()
    if self.pattern is not None:
      for match in self.pattern.finditer(text):
        found |= self.terms[match.group(0)]
    return found


@functools.cache
def load_lexicon(path: str | None = None) -> dict:
  return json.loads(pathlib.Path(path or LEXICON_PATH).read_text(encoding="utf-8"))


class AttributeAnnotator(Protocol):
  """What balancing needs from any annotator: 0/1 attributes s (n, m) and concepts y (n, c).

  `images` are decoded images (e.g. uint8 HWC arrays), one per caption, or None. A model-based
  annotator (an image classifier for perceived gender or occupations) implements the same
  method; in a Beam job the model runs through RunInference with a JAX ModelHandler in
  webpairs/pipelines/, and its scores are thresholded into these indicators. `UnionAnnotator`
  combines it with the caption keywords.
  """

  attributes: tuple[str, ...]
  concepts: tuple[str, ...]

  def annotate_batch(self, captions: Sequence[str], langs: Sequence[str | None],
                     images: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    ...

  def describe(self) -> dict:
    """JSON: `annotator`, `attributes`, `concepts` and whatever identifies its version."""
    ...


class KeywordAnnotator:
  """Multilingual keyword lexicon annotator (captions only; `images` are ignored).

  A caption in a language without a lexicon gets no attributes and no concepts.
  """

  name = "keywords"

  def __init__(self, lexicon: dict | None = None):
    lex = load_lexicon() if lexicon is None else lexicon
    self.attributes = tuple(lex["attributes"])
    self.concepts = tuple(lex["concepts"])
    self.languages = tuple(lex["languages"])
    # Version and content digest: annotations made with another lexicon must not be reused.
    self.version = lex.get("version")
    self.digest = hashlib.sha256(json.dumps(lex, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    substring = set(lex.get("substring_languages", ()))
    self._matchers = {}
    for lang in self.languages:
      kind = _SubstringMatcher if lang in substring else _WordMatcher
      self._matchers[lang] = tuple(
          kind(self._terms(lex[section], lex.get("exclude", {}).get(section, {}).get(lang, ()), lang))
          for section in ("attributes", "concepts"))

  def describe(self) -> dict:
    """What made the indicators: recorded with annotations so that `select` knows the column names."""
    return {"annotator": self.name, "lexicon_version": self.version, "lexicon_digest": self.digest,
            "attributes": list(self.attributes), "concepts": list(self.concepts)}

  @staticmethod
  def _terms(table: dict, exclusions, lang: str) -> dict[str, frozenset[int]]:
    terms: dict[str, frozenset[int]] = {}
    for index, per_lang in enumerate(table.values()):
      for term in per_lang.get(lang, ()):
        key = " ".join(tokenize(normalise(term, lang))) + ("*" if term.endswith("*") else "")
        terms[key] = terms.get(key, frozenset()) | {index}
    for term in exclusions:  # labelled with nothing: consumed so that shorter terms inside are not found
      key = " ".join(tokenize(normalise(term, lang)))
      terms[key] = terms.get(key, frozenset())
    if "" in terms:
      raise ValueError(f"a {lang} term normalises to nothing")
    return terms

  def annotate(self, caption: str, lang: str | None) -> tuple[set[int], set[int]]:
    """Indices of the attributes and concepts found in one caption."""
    lang = base_lang(lang)
    matchers = self._matchers.get(lang)
    if matchers is None or not caption:
      return set(), set()
    text = normalise(caption, lang)
    if isinstance(matchers[0], _SubstringMatcher):
      text = " ".join(text.split())  # terms never span whitespace; keep matching within words
    return matchers[0].labels(text), matchers[1].labels(text)

  def annotate_batch(self, captions: Sequence[str], langs: Sequence[str | None],
                     images: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    del images  # captions only
    if len(captions) != len(langs):
      raise ValueError("need one language per caption")
    s = np.zeros((len(captions), len(self.attributes)), np.uint8)
    y = np.zeros((len(captions), len(self.concepts)), np.uint8)
    for i, (caption, lang) in enumerate(zip(captions, langs)):
      found_s, found_y = self.annotate(caption or "", lang)
      s[i, list(found_s)] = 1
      y[i, list(found_y)] = 1
    return s, y


class UnionAnnotator:
  """An attribute or concept is present if any of the annotators (same names) finds it."""

  def __init__(self, annotators: Sequence[AttributeAnnotator]):
    if not annotators:
      raise ValueError("need at least one annotator")
    first = annotators[0]
    for other in annotators[1:]:
      if (other.attributes, other.concepts) != (first.attributes, first.concepts):
        raise ValueError("annotators must share attribute and concept names (in order)")
    self.annotators = tuple(annotators)
    self.attributes, self.concepts = first.attributes, first.concepts

  def describe(self) -> dict:
    return {"annotator": "union", "parts": [a.describe() for a in self.annotators],
            "attributes": list(self.attributes), "concepts": list(self.concepts)}

  def annotate_batch(self, captions: Sequence[str], langs: Sequence[str | None],
                     images: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    pairs = [a.annotate_batch(captions, langs, images) for a in self.annotators]
    return (np.maximum.reduce([p[0] for p in pairs]), np.maximum.reduce([p[1] for p in pairs]))
