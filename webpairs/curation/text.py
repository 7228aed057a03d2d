"""Caption text: strict UTF-8 decoding, normalisation for the dedup hash, quality features, rejects.

Features describe the caption with leading and trailing whitespace removed. Ratios are
shares of the non-whitespace characters: letters are Unicode categories L* and M* (marks
belong to the letters of abugidas such as Devanagari), digits N*, symbols P* and S*;
control and format characters count in none, so the three ratios sum to at most 1.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import re
import unicodedata

from webpairs.curation import reasons

DEFAULT_MAX_CAPTION_CHARS = 2000

# Scripts written without spaces between words: each letter counts as one word.
_SPACELESS_RANGES = (
    "\u0e00-\u0e7f"  # Thai
    "\u3005-\u3007"  # ideographic iteration mark, closing mark, number zero
    "\u3040-\u30ff"  # hiragana, katakana
    "\u31f0-\u31ff"  # katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width katakana
    "\U0001b000-\U0001b16f"  # kana supplement and extension A
    "\U00020000-\U000323af"  # CJK extensions B-H
)
# A spaceless-script character, or a run of anything else that is not whitespace.
_TOKEN_RE = re.compile(f"[{_SPACELESS_RANGES}]|[^\\s{_SPACELESS_RANGES}]+")
_SPACELESS_RE = re.compile(f"[{_SPACELESS_RANGES}]")

_TLDS = "com|org|net|edu|gov|info|biz|ru|uk|jp|cn|fr|nl|br|au|pl|ca|de"
_URL = (
    r"(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"']+"
    rf"|(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?"
)
# Matches start only where a host or scheme can start: searching from inside a long run of
# "a.a.a..." would rescan the run from every position (quadratic on giant captions).
_URL_RE = re.compile(rf"(?<![a-z0-9+.-])(?:{_URL})", re.IGNORECASE)
_ONLY_URL_RE = re.compile(rf"(?:{_URL})", re.IGNORECASE)
_HTML_RE = re.compile(
    r"</?[a-z][a-z0-9-]*(?:\s[^<>]*)?/?>"  # a tag
    r"|&(?:[a-z][a-z0-9]{1,31}|#[0-9]{1,7}|#x[0-9a-f]{1,6});",  # an entity
    re.IGNORECASE,
)
_IMAGE_EXT = r"jpe?g|jfif|png|gif|webp|bmp|tiff?|heic|heif|avif|svg"
# A bare file name (or path) with an image extension, or a camera's default name.
_FILE_NAME_RE = re.compile(
    rf"\S+\.(?:{_IMAGE_EXT})"
    r"|(?:img|dsc[nf]?|dcim|pict|pxl|mvimg|image|photo|pic|screenshot)[_-]?\d{3,}(?:[_-]\d+)*",
    re.IGNORECASE,
)


def decode_utf8(data: bytes) -> str:
  """Strict UTF-8 decoding (a leading byte-order mark is dropped); raises UnicodeDecodeError."""
  if data.startswith(codecs.BOM_UTF8):
    data = data[len(codecs.BOM_UTF8):]
  return data.decode("utf-8")


def utf8_error_detail(e: UnicodeDecodeError) -> str:
  """A short message for a row's status_detail: where and which bytes."""
  bad = e.object[e.start:e.end]
  return f"invalid UTF-8 at byte {e.start}: {bytes(bad).hex()} ({e.reason})"


def _strip_punct(text: str) -> str:
  """Removes whitespace and punctuation (P*) from both ends."""
  def keep(c: str) -> bool:
    return not c.isspace() and not unicodedata.category(c).startswith("P")

  start, end = 0, len(text)
  while start < end and not keep(text[start]):
    start += 1
  while end > start and not keep(text[end - 1]):
    end -= 1
  return text[start:end]


def normalize_caption(text: str) -> str:
  """The form exact caption dedup compares: NFKC, casefolded, one space, no end punctuation."""
  # Casefolding can leave text that NFKC changes again (e.g. compatibility characters).
  text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
  return _strip_punct(" ".join(text.split()))


def caption_norm_hash(text: str) -> str:
  """16 hex chars: blake2b-64 of the normalised caption's UTF-8."""
  return hashlib.blake2b(normalize_caption(text).encode("utf-8"), digest_size=8).hexdigest()


def words(text: str) -> list[str]:
  """Words for counting: whitespace-separated runs, but each CJK/kana/Thai letter alone.

  Runs without a letter or digit ("-", "...") are not words; punctuation at a run's ends
  is dropped and words are casefolded, so "Dog," and "dog" are the same word.
  """
  out = []
  for tok in _TOKEN_RE.findall(text):
    if len(tok) == 1 and _SPACELESS_RE.match(tok):
      if tok.isalnum():  # Thai vowel signs and tone marks attach to the previous letter
        out.append(tok)
    elif any(c.isalnum() for c in tok):
      out.append(_strip_punct(tok).casefold())
  return out


@dataclasses.dataclass
class TextFeatures:
  """Caption quality features; field names are the annotation columns they fill."""

  n_chars: int
  n_words: int
  letter_ratio: float
  digit_ratio: float
  symbol_ratio: float
  upper_ratio: float
  has_url: bool
  has_html: bool
  repetition_ratio: float


def text_features(text: str) -> TextFeatures:
  """Quality features of one caption (see the module docstring for the definitions)."""
  text = text.strip()
  letters = upper = digits = symbols = spaces = 0
  for c in text:
    if c.isspace():
      spaces += 1
      continue
    cat = unicodedata.category(c)
    major = cat[0]
    if major == "L" or major == "M":
      letters += 1
      upper += cat == "Lu" or cat == "Lt"
    elif major == "N":
      digits += 1
    elif major == "P" or major == "S":
      symbols += 1
  visible = len(text) - spaces
  ws = words(text)
  return TextFeatures(
      n_chars=len(text),
      n_words=len(ws),
      letter_ratio=letters / visible if visible else 0.0,
      digit_ratio=digits / visible if visible else 0.0,
      symbol_ratio=symbols / visible if visible else 0.0,
      upper_ratio=upper / letters if letters else 0.0,
      has_url=_URL_RE.search(text) is not None,
      has_html=_HTML_RE.search(text) is not None,
      repetition_ratio=1.0 - len(set(ws)) / len(ws) if ws else 0.0,
  )


def junk_detail(text: str) -> str | None:
  """Why a caption says nothing about its image, or None for a real caption.

  Junk: no letter in any script ("!!! ???", "1234 5678"), only a URL, or only an image
  file name ("IMG_2041.JPG", "DSC00012", "photos/beach_12.png").
  """
  text = text.strip()
  if not any(c.isalpha() for c in text):
    return "no letters"
  if _ONLY_URL_RE.fullmatch(text):
    return "only a URL"
  if _FILE_NAME_RE.fullmatch(text):
    return "only an image file name"
  return None


def caption_reject(text: str, max_chars: int = DEFAULT_MAX_CAPTION_CHARS) -> tuple[str, str] | None:
  """(reason, detail) for the first failing caption check, in reasons.py order, or None."""
  stripped = text.strip()
  if not stripped:
    return reasons.EMPTY_CAPTION, "empty" if not text else f"only whitespace ({len(text)} chars)"
  if len(stripped) > max_chars:
    return reasons.CAPTION_TOO_LONG, f"{len(stripped)} characters > limit {max_chars}"
  detail = junk_detail(stripped)
  if detail is not None:
    return reasons.JUNK_CAPTION, detail
  return None
