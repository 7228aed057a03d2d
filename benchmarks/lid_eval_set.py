"""A >= 100-language short-text LID evaluation built at benchmark time from registry wheels.

Provenance (nothing is committed; the wheels are fetched with `pip download --no-deps`):
- Django 5.2.x wheel (BSD-3): gettext catalogs django/**/locale/<loc>/LC_MESSAGES/django.mo,
  the translated UI messages ("Enter a valid email address.", ...) of ~95 languages;
  English text is the catalogs' message ids.
- pycountry wheel (LGPL-2.1, iso-codes translations): pycountry/locales/<loc>/LC_MESSAGES/
  {iso3166-1,iso3166-3,iso4217,iso15924,iso639-3}.mo, translated country, currency, script and
  language names; used only to top a language up to `per_lang` texts (names are proper nouns,
  so messages come first).
Texts are read with the stdlib gettext.GNUTranslations; placeholders and markup are removed,
texts shorter than `min_chars` letters or identical to their English source are dropped.
Regional variants fold (pt_BR -> pt, zh_Hant -> zh, sr@latin -> sr) and labels are the coarse
code of webpairs.curation.lid.fold (nb -> no, ckb -> ku). Each text is assigned to the
'tune' or 'test' half by a hash of (language, text), so the split is stable across runs.
`identifiable` marks the texts no other language of the same catalogs writes identically
(case-folded): Chechen country names copied from Russian, a Bosnian message equal to the Croatian
one. No identifier can be right on the others; the benchmark reports both.
"""

from __future__ import annotations

import collections
import gettext
import hashlib
import io
import pathlib
import re
import subprocess
import sys
import zipfile

from webpairs.curation import lid

WHEELS = {"django": "django>=5.2,<5.3", "pycountry": "pycountry==26.2.16"}
_DJANGO_MO = re.compile(r"locale/([^/]+)/LC_MESSAGES/django\.mo$")
_PYCOUNTRY_MO = re.compile(r"locales/([^/]+)/LC_MESSAGES/(iso3166-1|iso3166-3|iso4217|iso15924|iso639-3)\.mo$")
# printf-style and brace placeholders, HTML tags and entities
_PLACEHOLDER = re.compile(
    r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{[^}]*\}|<[^>]+>|&[a-z]+;"
)
_LETTER = re.compile(r"[^\W\d_]")


def fetch_wheels(cache: pathlib.Path) -> dict[str, pathlib.Path]:
  """The Django and pycountry wheels in `cache`, downloaded by pip when missing."""
  cache.mkdir(parents=True, exist_ok=True)
  out = {}
  for name, spec in WHEELS.items():
    found = sorted(cache.glob(f"{name}-*.whl"))
    if not found:
      subprocess.run(
          [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec], check=True
      )
      found = sorted(cache.glob(f"{name}-*.whl"))
    out[name] = found[-1]
  return out


def locale_code(loc: str) -> str:
  """A gettext locale dir name ('pt_BR', 'sr@latin', 'zh_Hant', 'nb_NO') -> its fine language code."""
  return loc.split("@")[0].split("_")[0].lower()


def _clean(text: str) -> str:
  text = _PLACEHOLDER.sub(" ", text)
  return " ".join(text.split()).strip(" :;,-")


def _catalog(data: bytes) -> list[tuple[str, str]]:
  """(source, translation) pairs of one .mo file; plural forms give each of their strings."""
  cat = gettext.GNUTranslations(io.BytesIO(data))
  pairs = []
  for key, value in cat._catalog.items():  # the stdlib keeps the parsed catalog here
    src = key[0] if isinstance(key, tuple) else key
    src = src.split("\x04")[-1]  # "context\x04message": the context is no text
    if not src:  # the header entry
      continue
    pairs.append((src, value))
  return pairs


def _keep(text: str, min_chars: int) -> bool:
  return len(_LETTER.findall(text)) >= min_chars


def _entries(wheel: pathlib.Path, pattern: re.Pattern):
  """(coarse code, source, translation) of every entry of the wheel's catalogs `pattern` matches."""
  with zipfile.ZipFile(wheel) as z:
    for member in sorted(z.namelist()):
      m = pattern.search(member)
      if m:
        code = lid.fold(locale_code(m.group(1)))
        for src, dst in _catalog(z.read(member)):
          yield code, src, dst


def _catalog_texts(cache: pathlib.Path):
  """(coarse code, cleaned text) of every translated message and name of both wheels, and their
  English sources; a translation equal to its source is no text of its language (as in `build`)."""
  wheels = fetch_wheels(cache)
  for wheel, pattern in ((wheels["django"], _DJANGO_MO), (wheels["pycountry"], _PYCOUNTRY_MO)):
    for code, src, dst in _entries(wheel, pattern):
      src, dst = _clean(src), _clean(dst)
      yield "en", src
      if dst != src:
        yield code, dst


def identifiable(rows: list[tuple[str, str, str, str]], cache: pathlib.Path) -> list[bool]:
  """Per row: whether no other language of the Django and pycountry catalogs writes its text
  identically (case-folded), i.e. whether the text alone can tell its language at all."""
  wanted = {r[1].casefold() for r in rows}
  users: dict[str, set[str]] = collections.defaultdict(set)
  for code, text in _catalog_texts(cache):
    folded = text.casefold()
    if folded in wanted:
      users[folded].add(code)
  return [not (users[r[1].casefold()] - {r[0]}) for r in rows]


def build(
    cache: pathlib.Path, per_lang: int = 60, min_chars: int = 8, min_per_lang: int = 20
) -> list[tuple[str, str, str, str]]:
  """Rows (lang, text, source, split) for every language with at least `min_per_lang` texts."""
  wheels = fetch_wheels(cache)
  messages: dict[str, dict[str, None]] = collections.defaultdict(dict)  # ordered sets
  names: dict[str, dict[str, None]] = collections.defaultdict(dict)
  for code, src, dst in _entries(wheels["django"], _DJANGO_MO):
    text = _clean(src if code == "en" else dst)
    if code != "en" and text == _clean(src):
      continue  # untranslated: English under another label
    if _keep(text, min_chars):
      messages[code][text] = None
  for code, src, dst in _entries(wheels["pycountry"], _PYCOUNTRY_MO):
    text = _clean(dst)
    if code != "en" and text != _clean(src) and _keep(text, min_chars):
      names[code][text] = None
  rows = []
  for code in sorted(set(messages) | set(names)):
    texts = [(t, "django") for t in messages[code]] + [
        (t, "pycountry") for t in names[code] if t not in messages[code]
    ]
    # A hash order, not file order: the kept texts spread over all catalogs.
    texts.sort(key=lambda ts: hashlib.sha1(f"{code}\t{ts[0]}".encode()).hexdigest())
    msg = [ts for ts in texts if ts[1] == "django"][:per_lang]
    texts = msg + [ts for ts in texts if ts[1] == "pycountry"][: per_lang - len(msg)]
    if len(texts) < min_per_lang:
      continue
    for text, source in texts:
      split = "tune" if int(hashlib.sha1(f"{code}\n{text}".encode()).hexdigest(), 16) % 2 else "test"
      rows.append((code, text, source, split))
  return rows
