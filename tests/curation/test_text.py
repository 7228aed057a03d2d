"""Caption text: UTF-8 decoding, normalisation and its hash, features, junk and other rejects."""

from __future__ import annotations

import hashlib
import json
import time

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pyarrow.parquet as pq
import pytest

from webpairs.curation import reasons
from webpairs.curation import text


def test_decode_utf8_is_strict_and_drops_a_bom():
  assert text.decode_utf8("Ünïcödé 日本".encode()) == "Ünïcödé 日本"
  assert text.decode_utf8(b"\xef\xbb\xbfhello") == "hello"
  with pytest.raises(UnicodeDecodeError) as e:
    text.decode_utf8(b"\xff\xfe")
  assert text.utf8_error_detail(e.value) == "invalid UTF-8 at byte 0: ff (invalid start byte)"
  with pytest.raises(UnicodeDecodeError):
    text.decode_utf8(b"\xed\xa0\x80")  # an encoded surrogate is not UTF-8


@pytest.mark.parametrize("raw,norm", [
    ("  Hello,   WORLD!! ", "hello, world"),
    ("«Bonjour»", "bonjour"),
    ("ｆｕｌｌ　ｗｉｄｔｈ", "full width"),
    ("Straße", "strasse"),
    ("ﬁsh\tand\nchips...", "fish and chips"),
    ("$5 deal!", "$5 deal"),  # symbols are not punctuation
    ("!!!", ""),
])
def test_normalize_caption(raw, norm):
  assert text.normalize_caption(raw) == norm


def test_caption_norm_hash_is_blake2b64_of_the_normal_form():
  expected = hashlib.blake2b(b"hello, world", digest_size=8).hexdigest()
  assert text.caption_norm_hash("Hello, World!") == expected
  assert text.caption_norm_hash("  HELLO,\tworld ...") == expected
  assert len(expected) == 16
  assert text.caption_norm_hash("hello world") != expected


def test_features_on_a_hand_written_caption():
  f = text.text_features("  Hello World 42!\n")
  # 15 characters, 13 of them not spaces: 10 letters, 2 digits, 1 punctuation; 2 upper.
  assert (f.n_chars, f.n_words) == (15, 3)
  assert f.letter_ratio == pytest.approx(10 / 13)
  assert f.digit_ratio == pytest.approx(2 / 13)
  assert f.symbol_ratio == pytest.approx(1 / 13)
  assert f.upper_ratio == pytest.approx(2 / 10)
  assert (f.has_url, f.has_html, f.repetition_ratio) == (False, False, 0.0)


def test_repetition_ratio_counts_casefolded_words():
  assert text.text_features("The dog and the dog.").repetition_ratio == pytest.approx(1 - 3 / 5)
  assert text.text_features("buy buy buy buy").repetition_ratio == pytest.approx(0.75)
  assert text.text_features("").repetition_ratio == 0.0


@pytest.mark.parametrize("caption,n_words", [
    ("一只狗在草地上跑", 8),
    ("犬が走る", 4),
    ("iPhone 15 ケース", 5),  # ケ, ー, ス
    ("สวัสดีครับ", 7),  # 7 Thai letters; the 3 vowel signs attach to them
    ("नमस्ते दुनिया", 2),
    ("- dog -- cat ...", 2),
    ("耳ピアスをした1男が、", 10),  # 9 letters and the number 1; "、" is not a word
])
def test_word_counts_across_scripts(caption, n_words):
  assert text.text_features(caption).n_words == n_words


def test_marks_count_as_letters():
  f = text.text_features("नमस्ते दुनिया")
  assert f.letter_ratio == 1.0 and f.upper_ratio == 0.0


@pytest.mark.parametrize("caption,url,html", [
    ("see https://x.org/a?b=1", True, False),
    ("Buy it online at johnlewis.com", True, False),
    ("www.example.net", True, False),
    ("No. 5 costs 2.25 e.g. today", False, False),
    ("<b>bold</b> move", False, True),
    ("Tom &amp; Jerry", False, True),
    ("A&#39;s colorway", False, True),
    ("a < b > c", False, False),
    ("I <3 you & me", False, False),
])
def test_url_and_html_flags(caption, url, html):
  f = text.text_features(caption)
  assert (f.has_url, f.has_html) == (url, html)


@pytest.mark.parametrize("caption,detail", [
    ("!!! ???", "no letters"),
    ("1234 5678", "no letters"),
    ("0.32893747091293335", "no letters"),
    ("https://example.com/images/a.jpg", "only a URL"),
    ("example.com", "only a URL"),
    ("IMG_2041.JPG", "only an image file name"),
    ("DSC00012.jpg", "only an image file name"),
    ("photo_12.png", "only an image file name"),
    ("products/blue-joggers-size-30.jpg", "only an image file name"),
    ("DSC00012", "only an image file name"),
    ("PXL_20210101_123456789", "only an image file name"),
])
def test_junk_captions(caption, detail):
  assert text.junk_detail(caption) == detail
  assert text.caption_reject(caption) == (reasons.JUNK_CAPTION, detail)


@pytest.mark.parametrize("caption", [
    "a photo of a dog", "IMG of the day: sunset over the bay", "Photo 2019", "一只狗", "5 orang",
    "Read more at example.com", "x", "A&W root beer",
])
def test_real_captions_are_not_junk(caption):
  assert text.junk_detail(caption) is None


def test_empty_and_too_long():
  assert text.caption_reject("") == (reasons.EMPTY_CAPTION, "empty")
  assert text.caption_reject(" \n\t") == (reasons.EMPTY_CAPTION, "only whitespace (3 chars)")
  assert text.caption_reject("a" * 2000) is None
  assert text.caption_reject("a" * 2001) == (reasons.CAPTION_TOO_LONG, "2001 characters > limit 2000")
  assert text.caption_reject(" a dog ", max_chars=5) is None  # length is counted after stripping
  assert text.caption_reject("a big dog", max_chars=5)[0] == reasons.CAPTION_TOO_LONG


def test_multilingual_human_captions_are_ok(shared_data):
  rejected, empty, n = [], 0, 0
  for path in sorted((shared_data / "real_captions_multilingual").glob("*.jsonl")):
    for line in path.read_text(encoding="utf-8").splitlines():
      for caption in json.loads(line)["sentences"]:
        n += 1
        r = text.caption_reject(caption)
        if r and r[0] == reasons.EMPTY_CAPTION and not caption:
          empty += 1  # the file has two empty strings; those are rightly empty_caption
        elif r:
          rejected.append((path.name, caption, r))
  assert n == 16_000 and empty <= 2
  assert rejected == []


def test_alttext_junk_share_is_small(shared_data):
  path = shared_data / "real_alttext" / "img2dataset_test_10000.parquet"
  table = pq.read_table(path, columns=["TEXT"])
  captions = table.column("TEXT").to_pylist()
  junk = [c for c in captions if text.junk_detail(c)]
  # Measured: 43 of 10,000 (32 file names, 10 bare URLs, 1 number).
  assert 0.001 < len(junk) / len(captions) < 0.01
  assert all(" " not in c.strip() for c in junk)  # every flagged one is a single token


@pytest.mark.parametrize("caption", ["a." * 50_000, "x" * 100_000, "<a " * 30_000, "IMG_" + "1_" * 30_000])
def test_giant_captions_take_linear_time(caption):
  # A regex that rescans from every position takes minutes on these (measured 0.14 s at
  # 2,000 chars of "a.a.", x100 per x10); the linear ones take milliseconds.
  start = time.perf_counter()
  text.text_features(caption)
  text.caption_reject(caption)
  text.caption_norm_hash(caption)
  assert time.perf_counter() - start < 3.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_features_stay_in_range(caption):
  f = text.text_features(caption)
  for r in (f.letter_ratio, f.digit_ratio, f.symbol_ratio, f.upper_ratio, f.repetition_ratio):
    assert 0.0 <= r <= 1.0
  assert f.letter_ratio + f.digit_ratio + f.symbol_ratio <= 1.0 + 1e-9
  assert 0 <= f.n_words <= f.n_chars <= len(caption)
  assert f.repetition_ratio < 1.0
  assert len(text.caption_norm_hash(caption)) == 16
