"""Scripts of caption letters: the dominant script and which languages write it."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from webpairs.curation import scripts


@pytest.mark.parametrize("text,script,share", [
    ("A dog runs", "Latn", 1.0),
    ("Ein Hund rennt über die Wiese", "Latn", 1.0),
    ("Việt Nam", "Latn", 1.0),
    ("Черная собака", "Cyrl", 1.0),
    ("黒と白の犬", "Kana", 1.0),  # kana beside Han: all five letters count as Japanese
    ("一只狗", "Hani", 1.0),
    ("abcd 한국", "Hang", 2 / 6),  # another script with >= 20% of the letters wins over Latin
    ("abcdefghi 한", "Latn", 0.9),  # ... below 20% it does not
    ("😀🎉 2024", None, 0.0),
    ("", None, 0.0),
    ("𠀀𠀁𠀂", "Hani", 1.0),  # CJK extension B lies outside the BMP
])
def test_dominant(text, script, share):
  got, got_share = scripts.dominant(text)
  assert got == script
  assert got_share == pytest.approx(share)


@pytest.mark.parametrize("code,script,ok", [
    ("ru", "Cyrl", True), ("ru", "Latn", False), ("en", "Latn", True), ("en", "Cyrl", False),
    ("sr", "Latn", True), ("sr", "Cyrl", True), ("ja", "Hani", True), ("ja", "Kana", True),
    ("zh", "Kana", False), ("yi", "Hebr", True), ("xyz", "Latn", True),
])
def test_writes(code, script, ok):
  assert scripts.writes(code, script) is ok


@given(st.text(max_size=50))
def test_dominant_is_total(text):
  script, share = scripts.dominant(text)
  assert (script is None) == (share == 0.0)
  assert 0.0 <= share <= 1.0
  assert script is None or script in scripts.NAMES


@pytest.mark.parametrize("text,script", [
    ("Azərbaycan dili", "Latn"),  # ə (U+0259, IPA block) is a Latin letter
    ("ɔkɔm ne ɛka", "Latn"),  # Akan
    ("ꕉꖷ ꗓ ꘃ ꔎꔒ", "Vaii"),
    ("ᱥᱟᱱᱛᱟᱲᱤ", "Olck"),
    ("𞤆𞤵𞤤𞤢𞤪", "Adlm"),  # Adlam (Fulah) lies outside the BMP
    ("ⲧⲙⲛⲧⲣⲙⲛⲕⲏⲙⲉ", "Copt"),
    ("ϣϥϧ", "Copt"),  # Coptic letters inside the Greek block
])
def test_dominant_knows_the_supplements_scripts(text, script):
  assert scripts.dominant(text)[0] == script


def test_measured_scripts_join_the_table():
  # Khakas and Ojibwe are labels of the supplement only: their training text says which script.
  assert scripts.writes("kjh", "Cyrl") and not scripts.writes("kjh", "Latn")
  assert scripts.writes("oj", "Cans") and scripts.writes("iu", "Cans")
  assert scripts.writes("pa", "Guru") and scripts.writes("pa", "Arab")  # Shahmukhi, measured
  assert not scripts.writes("ru", "Latn")  # the hand table stands for what it lists


def test_sole_scripts_have_one_writer():
  for script, code in scripts.SOLE_LANGUAGE.items():
    assert {c for c, written in scripts.LANGUAGE_SCRIPTS.items() if script in written} == {code}, script
  for script, code in scripts.DEFAULT_LANGUAGE.items():
    assert scripts.writes(code, script)
