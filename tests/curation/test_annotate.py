"""annotate_batch: one schema row per example, statuses in check order, never an exception."""

from __future__ import annotations

import hashlib
import io
import json

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
import imagehash
from PIL import Image
import pyarrow as pa
import pytest

from tests.curation import samples
from webpairs.balancing import keywords
from webpairs.curation import annotate
from webpairs.curation import hashes
from webpairs.curation import image
from webpairs.curation import lid
from webpairs.curation import reasons
from webpairs.curation import regions as regions_lib
from webpairs.curation import text
from webpairs.formats.raw import RawExample
from webpairs.formats import annotation_files as schema

JPEG = samples.encode(samples.photo(0, 640, 480), "JPEG", quality=90)
PNG = samples.encode(samples.photo(1, 300, 200), "PNG")


@pytest.fixture(scope="module")
def ident() -> lid.LanguageIdentifier:
  return lid.LanguageIdentifier()


def _one(ex, ident, **config):
  rows = annotate.annotate_batch([ex], ident, annotate.AnnotateConfig(**config))
  assert len(rows) == 1
  return rows[0]


def _check_schema(rows):
  for row in rows:
    assert list(row) == list(schema.ANNOTATION_COLUMNS)
  pa.Table.from_pylist(rows, schema=schema.ANNOTATION_SCHEMA)  # every value has the column's type


def test_good_example(ident):
  meta = {"url": "https://example.com/moto.jpg", "caption": "ignored: .txt wins", "page_lang": "en-US"}
  row = _one(samples.example(image=JPEG, meta=meta), ident)
  _check_schema([row])
  gray = image.decode_gray(Image.open(io.BytesIO(JPEG)), image.DEFAULT_DRAFT_SIZE)
  assert row == row | {
      "key": "000000001", "source": "shard-00000.tar", "offset": 1,
      "url": "https://example.com/moto.jpg", "status": "ok", "status_detail": "",
      "width": 640, "height": 480, "image_format": "jpeg", "image_bytes": len(JPEG),
      "sha256": hashlib.sha256(JPEG).hexdigest(),
      "phash": str(imagehash.phash(gray)), "dhash": str(imagehash.dhash(gray)),
      "caption": "a red motorcycle standing in a garage",
      "caption_norm_hash": text.caption_norm_hash("a red motorcycle standing in a garage"),
      "lid_lang": "en", "lang": "en", "page_lang": "en-US",
      "n_chars": 37, "n_words": 7, "upper_ratio": 0.0, "has_url": False,
  }
  assert 0.5 < row["lang_score"] <= 1.0


def test_caption_from_json_and_unsure_lid_takes_page_lang(ident):
  meta = {"caption": "Turnerin", "page_lang": "de-DE"}
  ex = samples.example(image=PNG, ext="png", caption=None, meta=meta)
  row = _one(ex, ident)
  assert row["status"] == "ok" and row["caption"] == "Turnerin"
  assert row["lang_score"] < 0.5  # one word: the identifier guesses ('no' at 0.25), unsure
  assert row["lang"] == "de"


@pytest.mark.parametrize("ex,status,detail", [
    (samples.example(image=None), reasons.MISSING_IMAGE, "no image member (members: txt)"),
    (samples.example(image=JPEG, caption=None), reasons.MISSING_CAPTION,
     "no .txt member and no caption in the .json"),
    (samples.example(image=JPEG, caption=None, meta={"caption": 5}), reasons.MISSING_CAPTION,
     ".json caption is a int, not a string"),
    (samples.example(image=JPEG, caption=b"\xff\xfe"), reasons.INVALID_UTF8,
     "invalid UTF-8 at byte 0: ff (invalid start byte) [also: junk_caption]"),
    (samples.example(image=JPEG, caption=None, meta=b'{"caption": "\\ud800 x"}'), reasons.INVALID_UTF8,
     ".json caption has lone surrogate escapes"),
    (samples.example(image=JPEG, meta=b"{not json"), reasons.INVALID_JSON, None),
    (samples.example(image=JPEG, meta=b"[1, 2]"), reasons.INVALID_JSON, "JSON list, not an object"),
    (samples.example(image=b"\x00" * 100), reasons.CORRUPT_IMAGE,
     "not a recognised image (100 bytes, starting 0000000000000000)"),
    (samples.example(image=JPEG[:3000]), reasons.TRUNCATED_IMAGE, None),
    (samples.example(image=samples.png_header_only(50_000, 50_000), ext="png"),
     reasons.DECOMPRESSION_BOMB, None),
    (samples.example(image=JPEG, caption=b"  "), reasons.EMPTY_CAPTION, "only whitespace (2 chars)"),
    (samples.example(image=JPEG, caption=b"IMG_2041.JPG"), reasons.JUNK_CAPTION,
     "only an image file name"),
])
def test_each_reject(ident, ex, status, detail):
  row = _one(ex, ident)
  _check_schema([row])
  assert row["status"] == status
  if detail is not None:
    assert row["status_detail"] == detail


def test_caption_limit_is_configurable(ident):
  ex = samples.example(image=JPEG, caption=b"a dog on a beach")
  assert _one(ex, ident, max_caption_chars=10)["status"] == reasons.CAPTION_TOO_LONG
  assert _one(ex, ident, max_caption_chars=16)["status"] == "ok"


def test_rejected_rows_keep_what_could_be_computed(ident):
  row = _one(samples.example(image=b"garbage", caption=b"\xff a dog"), ident)
  assert row["status"] == reasons.INVALID_UTF8  # comes before corrupt_image in the check order
  assert row["status_detail"].endswith("[also: corrupt_image]")
  assert row["sha256"] == hashlib.sha256(b"garbage").hexdigest() and row["image_bytes"] == 7
  assert row["caption"] == "\ufffd a dog" and row["n_words"] == 2  # lossy text still described
  row = _one(samples.example(image=JPEG[:3000], caption=b"A cat on a sofa"), ident)
  assert (row["status"], row["width"], row["phash"]) == (reasons.TRUNCATED_IMAGE, 640, None)
  assert row["lid_lang"] == "en" and row["n_words"] == 5


def test_read_error_comes_first_and_the_rest_is_filled(ident):
  ex = samples.example(
      image=JPEG, caption=b"", read_error=reasons.TRUNCATED_TAR, read_detail="tar ends at byte 4096")
  row = _one(ex, ident)
  assert row["status"] == reasons.TRUNCATED_TAR
  assert row["status_detail"] == "tar ends at byte 4096 [also: empty_caption]"
  assert row["phash"] is not None and row["sha256"] == hashlib.sha256(JPEG).hexdigest()
  lost = _one(samples.example(image=None, caption=None, read_error=reasons.BROKEN_TAR), ident)
  assert lost["status"] == reasons.BROKEN_TAR
  assert lost["status_detail"].startswith("broken_tar [also: missing_image, missing_caption]")


def test_row_for_read_error_and_summarize():
  row = annotate.row_for_read_error("k", "s.tar", 3, reasons.BROKEN_TAR, "bad header at 512")
  _check_schema([row])
  assert (row["status"], row["status_detail"]) == (reasons.BROKEN_TAR, "bad header at 512")
  assert (row["offset"], row["sha256"]) == (3, None)
  counts = annotate.summarize(["ok", "ok", reasons.CORRUPT_IMAGE, "something_new"])
  assert list(counts)[: len(reasons.ALL_STATUSES)] == list(reasons.ALL_STATUSES)
  assert counts["ok"] == 2 and counts[reasons.CORRUPT_IMAGE] == 1 and counts["something_new"] == 1
  assert counts[reasons.JUNK_CAPTION] == 0 and sum(counts.values()) == 4


def test_batch_equals_one_by_one(ident):
  kinds = [
      ("JPEG", "jpg", "Ein Hund läuft über eine Wiese"), ("PNG", "png", "一只狗在草地上跑"),
      ("WEBP", "webp", "!!!"), ("GIF", "gif", "a cat"), ("JPEG", "jpg", "Кошка на диване"),
  ]
  exs = [
      samples.example(key=f"{i:09d}", ext=ext, caption=cap.encode(),
                      image=samples.encode(samples.photo(i, 64 + 40 * i, 200), fmt))
      for i, (fmt, ext, cap) in enumerate(kinds)
  ] + [samples.example(key="000000009", image=b"nope")]
  batch = annotate.annotate_batch(exs, ident)
  _check_schema(batch)
  assert batch == [_one(ex, ident) for ex in exs]
  statuses = [r["status"] for r in batch]
  assert statuses == ["ok", "ok", reasons.JUNK_CAPTION, "ok", "ok", reasons.CORRUPT_IMAGE]
  assert annotate.annotate_batch([], ident) == []


def test_unexpected_errors_become_rejects(ident, monkeypatch):
  ex = samples.example(image=JPEG)

  def boom(*args, **kwargs):
    raise RuntimeError("boom")

  with monkeypatch.context() as m:
    m.setattr(image, "inspect_image", boom)
    row = _one(ex, ident)
    assert row["status"] == reasons.CORRUPT_IMAGE
    assert row["status_detail"] == "unexpected RuntimeError: boom"
  with monkeypatch.context() as m:
    m.setattr(text, "text_features", boom)
    assert _one(ex, ident)["status"] == reasons.JUNK_CAPTION
  with monkeypatch.context() as m:
    m.setattr(hashes, "phash_batch", boom)
    row = _one(ex, ident)
    assert row["status"] == reasons.TRUNCATED_IMAGE
    assert row["status_detail"] == "hashing failed: RuntimeError: boom"
  with monkeypatch.context() as m:
    m.setattr(lid.LanguageIdentifier, "predict", boom)
    row = _one(ex, ident)
    assert row["status"] == reasons.JUNK_CAPTION
    assert row["status_detail"].startswith("language ID failed")


def _found(row, annotator):
  return ({annotator.attributes[i] for i, v in enumerate(row["attr_s"]) if v},
          {annotator.concepts[j] for j, v in enumerate(row["concept_y"]) if v})


def test_balancing_indicators_come_from_the_caption_in_its_language(ident):
  kw = keywords.KeywordAnnotator()
  exs = [samples.example(key="1", image=JPEG, caption="A woman doctor talks with a nurse".encode()),
         samples.example(key="2", image=JPEG, caption="Ein Mann und seine Tochter warten beim Arzt".encode()),
         samples.example(key="3", image=JPEG, caption=None),
         samples.example(key="4", image=b"nope", caption=b"a man repairing his car")]
  rows = annotate.annotate_batch(exs, ident)
  _check_schema(rows)
  assert len(rows[0]["attr_s"]) == len(kw.attributes) and len(rows[0]["concept_y"]) == len(kw.concepts)
  assert _found(rows[0], kw) == ({"female"}, {"doctor", "nurse"})
  assert rows[1]["lang"] == "de" and _found(rows[1], kw) == ({"male", "female"}, {"doctor"})
  assert rows[2]["attr_s"] is None and rows[2]["concept_y"] is None  # no caption: unknown, not "none"
  assert rows[3]["status"] == reasons.CORRUPT_IMAGE and _found(rows[3], kw) == ({"male"}, set())


def test_an_annotator_failing_on_one_caption_rejects_only_that_row(ident):
  kw = keywords.KeywordAnnotator()

  class Picky:
    attributes, concepts = kw.attributes, kw.concepts

    def annotate_batch(self, captions, langs, images=None):
      if any("boom" in c for c in captions):
        raise RuntimeError("boom")
      return kw.annotate_batch(captions, langs)

  exs = [samples.example(key="1", image=JPEG, caption=b"a nurse in a garden"),
         samples.example(key="2", image=JPEG, caption=b"a boom box on a table")]
  rows = annotate.annotate_batch(exs, ident, annotator=Picky())
  assert rows[0]["status"] == "ok" and _found(rows[0], kw) == (set(), {"nurse"})
  assert rows[1]["status"] == reasons.JUNK_CAPTION and rows[1]["attr_s"] is None
  assert rows[1]["status_detail"] == "indicators failed: RuntimeError: boom"


def test_raw_regions_are_cleaned_into_the_row(ident):
  meta = {"url": "https://example.com/a.jpg",
          "regions": [{"text": "red circle", "box": [0.1, 0.2, 0.3, 0.4]}, {"text": "sky", "box": [-0.1, 0, 0.5, 1.2]}]}
  stats = {}
  rows = annotate.annotate_batch([samples.example(image=JPEG, meta=meta), samples.example(key="2", image=JPEG)],
                                 ident, stats=stats)
  _check_schema(rows)
  assert rows[0]["status"] == "ok"
  assert rows[0]["regions"] == ('[{"text":"red circle","box":[0.1,0.2,0.3,0.4]},'
                                '{"text":"sky","box":[0.0,0.0,0.5,1.0]}]')
  assert rows[1]["regions"] is None  # no regions in the .json: null, not "[]"
  assert stats == {"regions_examples": 1, "regions_kept": 2, "regions_dropped": 0, "regions_replaced": 0}


@pytest.mark.parametrize("raw,kept,dropped", [
    ("not a list", 0, 1),
    ({"text": "a", "box": [0, 0, 1, 1]}, 0, 1),
    ([{"text": "a", "box": [0, 0, 1]}, {"box": [0, 0, 1, 1]}, {"text": "ok", "box": [0, 0, 1, 1]}, 7], 1, 3),
    ([{"text": "a", "box": ["0", 0, 1, 1]}, {"text": "b", "box": [0.5, 0.5, 0.2, 0.9]}], 0, 2),
])
def test_malformed_regions_are_dropped_and_counted_never_a_reject(ident, raw, kept, dropped):
  stats = {}
  rows = annotate.annotate_batch([samples.example(image=JPEG, meta={"regions": raw})], ident, stats=stats)
  _check_schema(rows)
  assert rows[0]["status"] == "ok" and rows[0]["phash"] is not None
  assert len(json.loads(rows[0]["regions"] or "[]")) == kept
  assert (stats["regions_kept"], stats["regions_dropped"], stats["regions_examples"]) == (kept, dropped, int(kept > 0))


def test_detector_regions_replace_the_raw_ones_of_the_examples_they_name(ident):
  raw = {"regions": [{"text": "from json", "box": [0, 0, 1, 1]}]}
  exs = [samples.example(key="000000001", image=JPEG, meta=raw), samples.example(key="000000002", image=JPEG, meta=raw),
         samples.example(key="000000003", image=JPEG, meta=raw)]
  detected = {(1, "000000001"): '[{"text":"detected","box":[0.5,0.5,1,1]},{"text":"","box":[0,0,1,1]}]',
              (2, "000000002"): None,  # the detector could not decode it: no regions
              (3, "someone else"): '[{"text":"wrong key","box":[0,0,1,1]}]'}
  stats = {}
  rows = annotate.annotate_batch(exs, ident, regions=detected, stats=stats)
  assert [regions_lib.from_json(r["regions"]) for r in rows] == [
      [{"text": "detected", "box": [0.5, 0.5, 1.0, 1.0]}], [], [{"text": "from json", "box": [0.0, 0.0, 1.0, 1.0]}]]
  assert stats == {"regions_examples": 2, "regions_kept": 2, "regions_dropped": 1, "regions_replaced": 2}


def test_a_region_cleaner_bug_costs_only_the_regions(ident, monkeypatch):
  def boom(value):
    raise RuntimeError("boom")

  monkeypatch.setattr(regions_lib, "clean_regions", boom)
  stats = {}
  rows = annotate.annotate_batch([samples.example(image=JPEG, meta={"regions": []})], ident, stats=stats)
  assert rows[0]["status"] == "ok" and rows[0]["regions"] is None and stats["regions_dropped"] == 1


def test_config_is_validated():
  with pytest.raises(ValueError):
    annotate.AnnotateConfig(image_formats=("JPEG", "JPG"))
  with pytest.raises(ValueError):
    annotate.AnnotateConfig(max_pixels=0)


_MEMBER = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([JPEG, PNG, b'{"caption": "a dog", "url": 3}', b"null", "a cat".encode(),
                     b'{"regions": [{"text": "a", "box": [0, 0, 1, "x"]}, 3, {"text": "b", "box": [0, 0, 1, 1]}]}']),
    # Valid images cut or with one byte flipped: reaches the decoders, not only the sniffing.
    st.tuples(st.sampled_from([JPEG, PNG]), st.integers(0, 10**6), st.integers(1, 255)).map(
        lambda t: t[0][: t[1] % len(t[0])] if t[2] % 2 else
        t[0][: t[1] % len(t[0])] + bytes([t[0][t[1] % len(t[0])] ^ t[2]]) + t[0][t[1] % len(t[0]) + 1:]),
)
_EXAMPLE = st.builds(
    lambda members, err: RawExample(key="k", source="s", offset=0, members=members, read_error=err),
    st.dictionaries(st.sampled_from(["jpg", "png", "webp", "txt", "json", "cls"]), _MEMBER, max_size=4),
    st.sampled_from([None, None, None, reasons.TRUNCATED_TAR]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EXAMPLE, max_size=5))
def test_never_raises_on_arbitrary_bytes(ident, examples):
  rows = annotate.annotate_batch(examples, ident, annotate.AnnotateConfig(max_pixels=4_000_000))
  assert len(rows) == len(examples)
  _check_schema(rows)
  for ex, row in zip(examples, rows):
    assert row["status"] in reasons.ALL_STATUSES
    assert (row["status"] == "ok") == (row["status_detail"] == "")
    if ex.read_error:
      assert row["status"] == ex.read_error
    for col in ("letter_ratio", "digit_ratio", "symbol_ratio", "upper_ratio", "repetition_ratio"):
      assert row[col] is None or 0.0 <= row[col] <= 1.0


def test_window_hashes_of_ok_images_only(ident):
  rows = annotate.annotate_batch([samples.example(image=JPEG), samples.example(image=PNG),
                                  samples.example(image=b"not an image")], ident, annotate.AnnotateConfig())
  _check_schema(rows)
  for data, row in zip((JPEG, PNG), rows):
    info = image.inspect_image(data, windows=True)
    assert row["window_phash"] == hashes.phash_low_batch(info.window_phash_pixels).tolist()
    assert row["window_dhash"] == hashes.dhash_batch(info.window_dhash_pixels).tolist()
    assert len(row["window_phash"]) == image.N_WINDOWS
    assert row["content_aspect"] == info.content_aspect == pytest.approx(info.width / info.height, rel=0.02)
  assert rows[2]["status"] == reasons.CORRUPT_IMAGE
  assert rows[2]["window_phash"] is None and rows[2]["window_dhash"] is None and rows[2]["content_aspect"] is None
  plain = annotate.annotate_batch([samples.example(image=JPEG)], ident, annotate.AnnotateConfig(windows=False))[0]
  assert plain["window_phash"] is None and plain["window_dhash"] is None
  assert plain["phash"] == rows[0]["phash"] and plain["dhash"] == rows[0]["dhash"]
