"""The one filesystem layer: Beam's glob rules on any fsspec filesystem, atomic writes, and curated shards that
the tokenizer and the trainer input both read through it from memory://."""

from __future__ import annotations

import os
import uuid

import fsspec
import pytest
from apache_beam.io.filesystems import FileSystems

from tests.tokenizers.curated import FAKE_JPEG, write_curated
from webpairs.formats import files
from webpairs.pretrain.input import make_source
from webpairs.tokenizers import shards

ROWS = [("a red bus", "en"), ("ein roter Bus", "de"), ("赤いバス", "ja"), ("no language here", None),
        ("un autobús rojo", "es"), ("красный автобус", "ru"), ("un bus rouge", "fr")]


@pytest.fixture()
def memory_dir():
  root = f"memory://webpairs-test-{uuid.uuid4().hex}"
  yield root
  fs = fsspec.filesystem("memory")
  if fs.exists(root):
    fs.rm(root, recursive=True)


def _tree(root) -> None:
  for name in ("a.parquet", "b.parquet", "notes.txt", "sub/c.parquet", "sub/deeper/d.parquet", ".tmp/a.parquet.1"):
    files.write_bytes_atomic(files.join(str(root), *name.split("/")), name.encode())


@pytest.mark.parametrize("pattern", ["*.parquet", "**", "**.parquet", "*/*.parquet", "sub/**", "?.parquet",
                                     "[ab].parquet", "[!a].parquet", "nothing-*", "missing/*", "a.parquet", "gone",
                                     "sub/"])
def test_match_is_beams_match(tmp_path, pattern):
  # Patterns written for the Beam jobs must find the same files through this layer.
  _tree(tmp_path)
  full = os.path.join(str(tmp_path), pattern)
  beam = sorted(m.path for m in FileSystems.match([full])[0].metadata_list)
  assert files.glob(full) == beam


def test_match_in_memory_keeps_the_scheme_and_sorts(memory_dir):
  _tree(memory_dir)
  assert files.glob(files.join(memory_dir, "*.parquet")) == [f"{memory_dir}/a.parquet", f"{memory_dir}/b.parquet"]
  assert files.glob(files.join(memory_dir, "**.parquet"))[-2:] == [f"{memory_dir}/sub/c.parquet",
                                                                   f"{memory_dir}/sub/deeper/d.parquet"]
  assert files.glob(files.join(memory_dir, "missing", "*")) == []
  (info,) = files.match(files.join(memory_dir, "notes.txt"))
  assert (info.size, info.mtime is not None) == (len(b"notes.txt"), True)


def test_relative_patterns_give_relative_paths(tmp_path, monkeypatch):
  _tree(tmp_path)
  monkeypatch.chdir(tmp_path)
  assert files.glob("sub/*.parquet") == ["sub/c.parquet"]
  assert files.glob("*.txt") == ["notes.txt"]


def test_join_and_split():
  assert files.join("gs://b/out", "x.json") == files.join("gs://b/out/", "x.json") == "gs://b/out/x.json"
  assert files.join("gs://b", ".tmp", "x") == "gs://b/.tmp/x"
  assert files.join("out", "x.json") == os.path.join("out", "x.json")
  assert files.split("gs://b/out/x.json") == ("gs://b/out", "x.json")
  assert files.split("out/x.json") == (os.path.abspath("out"), "x.json")


@pytest.mark.parametrize("where", ["local", "memory"])
def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path, memory_dir, where):
  root = str(tmp_path) if where == "local" else memory_dir
  path = files.join(root, "deep", "summary.json")
  files.write_json_atomic(path, {"a": 1, "inf": float("inf")} | {"b": [1.5]})
  files.write_json_atomic(path, {"a": 2})
  assert files.read_json(path) == {"a": 2}
  with pytest.raises(RuntimeError):
    with files.atomic_output(files.join(root, "deep", "half.bin")) as f:
      f.write(b"partial")
      raise RuntimeError("killed")
  assert not files.exists(files.join(root, "deep", "half.bin"))
  assert files.glob(files.join(root, "deep", files.TMP_DIR, "*")) == []


def test_read_never_decompresses(tmp_path):
  import gzip  # pylint: disable=import-outside-toplevel
  data = gzip.compress(b"x" * 100)
  (tmp_path / "a.tar.gz").write_bytes(data)
  with files.open(str(tmp_path / "a.tar.gz")) as f:
    assert f.read() == data


def test_tokenizer_and_trainer_read_the_same_curated_shards_from_memory(tmp_path, memory_dir):
  # One shard with a parquet sidecar (the tokenizer reads it), one without (the tokenizer reads the tar).
  write_curated(tmp_path, ROWS, shards=2, sidecars=(True, False))
  fsspec.filesystem("memory").put(str(tmp_path), files.filesystem(memory_dir)[1], recursive=True)
  assert files.glob(files.join(memory_dir, "*")) == [f"{memory_dir}/{n}" for n in (
      "curated-00000.parquet", "curated-00000.tar", "curated-00001.tar", "manifest.json")]

  read = shards.expand_shards(memory_dir)
  assert read == [f"{memory_dir}/curated-00000.parquet", f"{memory_dir}/curated-00001.tar"]
  captions = list(shards.iter_captions(read))
  source = make_source(memory_dir, 0, 1)
  assert source.paths == [f"{memory_dir}/curated-00000.tar", f"{memory_dir}/curated-00001.tar"]
  examples = [source[i] for i in range(len(source))]
  assert [e["caption"] for e in examples] == [c for c, _ in captions]
  assert [lang for _, lang in captions] == [lang or "und" for k in range(2) for _, lang in ROWS[k::2]]
  assert {e["image"] for e in examples} == {FAKE_JPEG} and len(examples) == len(ROWS)
