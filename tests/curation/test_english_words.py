"""english_words: the share of a line's words in SCOWL's English word list."""

from __future__ import annotations

import pathlib
import sys

import pyarrow.parquet as pq
import pytest

from webpairs.curation import english_words

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import english_word_list  # noqa: E402


def test_word_list_ships_with_its_licence():
  words = english_words.words()
  assert len(words) == 74_872
  assert all(len(w) >= english_words.MIN_LETTERS and w == w.lower() for w in words)
  assert {"socks", "hoodie", "cartoon", "colour", "color"} <= words
  licence = english_words._DATA.with_name("english_words_LICENSE.txt").read_text(encoding="utf-8")
  assert "Permission to use, copy, modify, distribute and sell these word" in licence


@pytest.mark.parametrize("line,share,counted", [
    ("the cat sat on the mat", 1.0, 5),  # 'on' is too short to count
    ("Aishmang natsaka nuwa nawantan nuwatkatn", 0.0, 4),  # Achuar; a capitalised unknown word is a name
    ("deadpool Zip up hoodie obraz miniatury", 0.4, 5),  # zip, hoodie in the list; deadpool, obraz, miniatury not
    ("Mishal Raheja as Dutta Patil", 0.0, 0),  # names only
    ("L_energie_des_Citoyens", 0.0, 2),  # '_' splits words; 'L' is short, 'Citoyens' a name
    ("jQuery", 0.0, 1),
    ("Women's 7 T-Shirts", 1.0, 2),  # apostrophes, hyphens and digits split words
    ("", 0.0, 0),
])
def test_english_share(line, share, counted):
  assert english_words.english_share(line) == (pytest.approx(share), counted)


@pytest.mark.parametrize("line,ruled_out", [
    ("Te oncameetsateji incanteeteri", True),  # Asháninka: 0 of 2
    ("giad fal tinl deib ad baob had loub nend", True),  # Hmu: 'had' is the one English word of 8
    ("eruption_volcan_yasur_tanna", True),  # 1 of 4
    ("deadpool Zip up hoodie obraz miniatury", False),  # 2 of 5 = 0.4: English may still be there
    ("are ar namanam", False),  # Chuukese, but 1 of 2 is English
    ("jQuery", False),  # one counted word rules nothing out
    ("Mishal Raheja as Dutta Patil", False),
])
def test_rules_out_english(line, ruled_out):
  assert english_words.rules_out_english(line) is ruled_out


def test_word_list_builder_lower_cases_splits_and_drops_possessives():
  lists = ["Aachen\nAachen's\nabbey\nx-ray\no'clock\nAI\nCafé\n", "colour\nabbey\n"]
  assert english_word_list.words(lists) == ["aachen", "abbey", "café", "clock", "colour", "ray"]


def test_rules_out_english_agrees_with_the_share(shared_data):
  # The rule lid._mixed reads, on every alt-text: the share's threshold and word count.
  captions = pq.read_table(shared_data / "real_alttext" / "img2dataset_test_10000.parquet").column("TEXT")
  lines = [c for c in captions.to_pylist() if c] + ["Te oncameetsateji incanteeteri", "are ar namanam"]
  for line in lines:
    share, counted = english_words.english_share(line)
    assert english_words.rules_out_english(line) == (
        counted >= english_words.MIN_WORDS and share < english_words.ENGLISH_SHARE), line
