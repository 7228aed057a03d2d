"""Is a caption written in English words? The share of its words in SCOWL's English word list
(data/english_words.txt, from Debian's wamerican and wbritish; benchmarks/english_word_list.py),
so that lid.176's English guards the language-ID mix only where the words are English."""

from __future__ import annotations

import functools
import pathlib
import re

_DATA = pathlib.Path(__file__).with_name("data") / "english_words.txt"
MIN_LETTERS = 3  # 'de', 'la', 'in', 'a' are words of too many languages to tell
# Runs of letters of MIN_LETTERS or more: apostrophes, hyphens, digits and '_' split words.
_WORD = re.compile(r"[^\W\d_]{%d,}" % MIN_LETTERS)
# A line rules English out from this many counted words, fewer than ENGLISH_SHARE of them English.
# Picked on the tune halves with benchmarks/lid_mix_sweep.py (README, lid.VERSION 8).
MIN_WORDS = 2
ENGLISH_SHARE = 0.4


@functools.cache
def words() -> frozenset[str]:
  """SCOWL's English words of 3 letters or more, lower-cased (74,872)."""
  return frozenset(_DATA.read_text(encoding="utf-8").split())


def english_share(line: str) -> tuple[float, int]:
  """(share of the counted words that are English, counted words). A word counts from 3 letters;
  a capitalised word the list lacks ('Raheja', 'Smartwool': a name, in any language) counts
  neither way. No counted word: (0.0, 0)."""
  english = counted = 0
  known = words()
  for word in _WORD.findall(line):
    if word.lower() in known:
      english += 1
    elif word[0].isupper():
      continue
    counted += 1
  return (english / counted if counted else 0.0), counted


def rules_out_english(line: str) -> bool:
  """True where at least MIN_WORDS words count and fewer than ENGLISH_SHARE of them are English
  ('Aishmang natsaka nuwa nawantan': Achuar); a line of names or short words rules nothing out."""
  share, counted = english_share(line)
  return counted >= MIN_WORDS and share < ENGLISH_SHARE
