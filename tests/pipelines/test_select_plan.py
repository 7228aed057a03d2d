"""The per-file elements of select travel packed (masks and languages as codes, row ids as rows), unpacked equal."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from apache_beam import coders

from webpairs.pipelines.runtime import batches
from webpairs.pipelines.select.select_plan import FileRows, FileState, Resolved, pack_rows, row_ids, unpack_rows


def test_pack_rows_codes_exactly():
  masks = np.array([0, 4, 0, 1 << 40, 4, 0], dtype=np.uint64)
  lang = ["en", "ja", "en", "und", "en", "ja"]
  values, mask_codes, names, lang_codes = pack_rows(masks, lang)
  assert values.tolist() == [0, 4, 1 << 40] and values.dtype == np.uint64
  assert mask_codes.tolist() == [0, 1, 0, 2, 1, 0] and mask_codes.dtype == np.uint8
  assert names == ["en", "ja", "und"]
  assert lang_codes.tolist() == [0, 1, 0, 2, 0, 1] and lang_codes.dtype == np.uint8
  back, back_lang = unpack_rows(values, mask_codes, names, lang_codes)
  assert back.dtype == np.uint64 and back.tolist() == masks.tolist() and back_lang == lang
  assert back_lang[0] is back_lang[2]  # one str per distinct language
  # 300 distinct masks need 2-byte codes; no rows, no codes
  assert pack_rows(np.arange(300, dtype=np.uint64), ["en"] * 300)[1].dtype == np.uint16
  empty = pack_rows(np.zeros(0, np.uint64), [])
  assert [len(x) for x in empty] == [0, 0, 0, 0]
  assert unpack_rows(*empty)[0].dtype == np.uint64


def test_file_state_and_resolved_pickle_equal_and_small():
  rng = np.random.default_rng(0)
  n = 25000
  masks = np.where(rng.random(n) < 0.7, 0, rng.choice([1, 2, 4, 8, 16, 1 << 40], n)).astype(np.uint64)
  lang = [str(l) for l in rng.choice(["en", "de", "fr", "ja", "zh", "es"], n)]
  state = FileState("/data/annotations-00001-abc.parquet", masks, lang)
  coder = coders.FastPrimitivesCoder()  # what Beam uses for these (index, state) pairs
  encoded = coder.encode((1, state))
  index, back = coder.decode(encoded)
  assert index == 1 and type(back) is FileState
  assert back.path == state.path and back.lang == lang
  assert back.masks.dtype == np.uint64 and np.array_equal(back.masks, masks)
  assert len(encoded) < 2.1 * n  # 1 byte of mask code and 1 of language code a row (was about 13)
  resolved = Resolved(state.path, masks, lang, {3: "src/key3", 9: "src/key3"}, 5)
  back = pickle.loads(pickle.dumps(resolved))
  assert type(back) is Resolved and back.cluster == resolved.cluster and back.canonical == 5
  assert np.array_equal(back.masks, masks) and back.lang == lang and back.path == state.path


def test_file_rows_carry_one_files_ids_in_two_bytes_a_row():
  ids = row_ids(7, 30000)[::3]  # rows 0, 3, ..., 29997 of file 7
  rows = FileRows.of(ids)
  assert rows.index == 7 and rows.rows.dtype == np.uint16 and len(rows) == 10000
  assert np.asarray(rows).dtype == np.int64 and np.array_equal(np.asarray(rows), ids)
  assert FileRows.of(row_ids(1, 70000)).rows.dtype == np.uint32  # past 65,535 rows
  assert FileRows(2, np.array([0, 200])).rows.dtype == np.uint8
  # a group's batches concatenate to the int64 ids, as int64 id arrays did
  first, second = FileRows.of(row_ids(3, 2)), FileRows.of(row_ids(5, 3))
  _, got = batches.concat([(np.arange(2), first), (np.arange(3), second)], 2)
  assert got.dtype == np.int64 and got.tolist() == [3 << 32, (3 << 32) + 1, 5 << 32, (5 << 32) + 1, (5 << 32) + 2]
  coder = coders.FastPrimitivesCoder()
  assert len(coder.encode(rows)) < len(coder.encode(ids)) // 3  # 20,000 bytes of rows against 80,000
  back = coder.decode(coder.encode(rows))
  assert type(back) is FileRows and back.index == 7 and np.array_equal(back.rows, rows.rows)
  with pytest.raises(ValueError, match="more than one file"):
    FileRows.of(np.concatenate([row_ids(1, 2), row_ids(2, 2)]))
