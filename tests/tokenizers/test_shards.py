"""Caption streaming from curated shards: tars, parquet sidecars, globs and folders."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.tokenizers.curated import write_curated
from webpairs.tokenizers import shards

ROWS = [("a red bus", "en"), ("ein roter Bus", "de"), ("赤いバス", "ja"), ("no language here", None),
        ("un autobús rojo", "es"), ("  ", "en"), ("красный автобус", "ru")]


def _expected(shards_n=2):
  """write_curated deals rows round-robin; the blank caption is skipped, no lang is 'und'."""
  return [(c, lang or "und") for k in range(shards_n) for c, lang in ROWS[k::shards_n] if c.strip()]


def test_tar_and_sidecar_streams_agree(tmp_path):
  write_curated(tmp_path / "a", ROWS, sidecars=(False,))
  write_curated(tmp_path / "b", ROWS, sidecars=(True,))
  from_tars = list(shards.iter_captions(shards.expand_shards(str(tmp_path / "a" / "*.tar"))))
  from_parquet = list(shards.iter_captions(shards.expand_shards(str(tmp_path / "b" / "*.tar"))))
  assert from_tars == from_parquet == _expected()


def test_expand_prefers_sidecars_and_ignores_other_files(tmp_path):
  write_curated(tmp_path, ROWS, shards=3, sidecars=(True, False))
  expected = [str(tmp_path / "curated-00000.parquet"), str(tmp_path / "curated-00001.tar"),
              str(tmp_path / "curated-00002.parquet")]
  assert shards.expand_shards(str(tmp_path / "*.tar")) == expected
  assert shards.expand_shards(str(tmp_path / "*")) == expected  # manifest.json is skipped
  assert shards.expand_shards(str(tmp_path)) == expected
  assert shards.expand_shards(str(tmp_path / "*.parquet")) == expected[::2]
  assert shards.expand_shards(str(tmp_path / "nothing-*.tar")) == []


def test_json_caption_when_txt_is_missing_and_und_without_lang(tmp_path):
  path = tmp_path / "x-00000.tar"
  with tarfile.open(path, "w") as tar:
    for name, data in [("k1.jpg", b"\xff\xd8"), ("k1.json", json.dumps({"caption": "only json", "lang": "en"})),
                       ("k2.txt", "txt only"), ("k2.json", json.dumps({"lang": ""})),
                       ("sub/k3.json", json.dumps({"caption": "nested key", "lang": "fr"}))]:
      data = data.encode() if isinstance(data, str) else data
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  assert list(shards.iter_captions([str(path)])) == [("only json", "en"), ("txt only", "und"), ("nested key", "fr")]


def test_parquet_without_lang_column(tmp_path):
  import pyarrow as pa
  import pyarrow.parquet as pq
  path = tmp_path / "x-00000.parquet"
  pq.write_table(pa.table({"key": ["a", "b", "c"], "caption": ["one", None, "three"]}), path)
  assert list(shards.iter_captions([str(path)])) == [("one", "und"), ("three", "und")]


def test_broken_json_names_the_shard(tmp_path):
  path = tmp_path / "bad-00000.tar"
  with tarfile.open(path, "w") as tar:
    info = tarfile.TarInfo("k1.json")
    info.size = 3
    tar.addfile(info, io.BytesIO(b"{x:"))
  with pytest.raises(ValueError, match="bad-00000.tar: k1.json"):
    list(shards.iter_captions([str(path)]))
