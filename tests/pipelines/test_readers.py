"""Raw-shard readers: key grouping, broken and cut tars, parquet input."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webpairs.curation import reasons
from webpairs.pipelines.raw import readers
from tests.pipelines.tarutil import member_offsets, tar_bytes


def _examples(n: int) -> list[tuple[str, bytes]]:
  members = []
  for i in range(n):
    key = f"{i:09d}"
    members += [(f"{key}.jpg", b"\xff\xd8jpegdata" + bytes([i])), (f"{key}.txt", f"caption {i}".encode()),
                (f"{key}.json", json.dumps({"url": f"http://x/{i}"}).encode())]
  return members


@pytest.mark.parametrize("name, expected", [
    ("000001.jpg", ("000001", "jpg")),
    ("dir/000001.JPG", ("dir/000001", "jpg")),
    ("a/b.c.json", ("a/b", "c.json")),
    ("a.b/c.txt", ("a.b/c", "txt")),
    ("noext", None),
])
def test_split_key(name, expected):
  assert readers.split_key(name) == expected


def test_reads_examples_grouped_by_key(tmp_path):
  path = tmp_path / "00000.tar"
  path.write_bytes(tar_bytes(_examples(4)))
  examples = list(readers.read_shard(str(path)))
  assert [e.key for e in examples] == [f"{i:09d}" for i in range(4)]
  assert [e.offset for e in examples] == [0, 1, 2, 3]
  assert all(e.read_error is None for e in examples)
  assert examples[2].members["txt"] == b"caption 2"
  assert sorted(examples[0].members) == ["jpg", "json", "txt"]
  assert examples[0].source == str(path)


def test_gzipped_tar(tmp_path):
  path = tmp_path / "00000.tar.gz"
  path.write_bytes(gzip.compress(tar_bytes(_examples(3))))
  assert [e.key for e in readers.read_shard(str(path))] == [f"{i:09d}" for i in range(3)]


def test_tar_cut_inside_a_member_marks_that_example(tmp_path):
  data = tar_bytes(_examples(3))
  _, data_offset = member_offsets(data)["000000002.jpg"]
  path = tmp_path / "cut.tar"
  path.write_bytes(data[:data_offset + 5])
  examples = list(readers.read_shard(str(path)))
  assert [e.key for e in examples] == ["000000000", "000000001", "000000002"]
  assert [e.read_error for e in examples] == [None, None, reasons.TRUNCATED_TAR]


def test_garbage_after_examples_gives_one_broken_tar_row(tmp_path):
  data = tar_bytes(_examples(3))
  header, _ = member_offsets(data)["000000002.jpg"]
  path = tmp_path / "broken.tar"
  path.write_bytes(data[:header] + b"\x07garbage" * 200)
  examples = list(readers.read_shard(str(path)))
  assert [e.read_error for e in examples] == [None, None, reasons.BROKEN_TAR]
  assert examples[-1].key == f"broken@{header}"
  assert examples[-1].offset == 2
  assert "invalid tar header" in examples[-1].read_detail


def test_tar_cut_at_a_member_boundary_is_not_silent(tmp_path):
  data = tar_bytes(_examples(3))
  header, _ = member_offsets(data)["000000001.jpg"]
  path = tmp_path / "short.tar"
  path.write_bytes(data[:header])
  examples = list(readers.read_shard(str(path)))
  assert [e.read_error for e in examples] == [None, reasons.BROKEN_TAR]
  assert "end-of-archive" in examples[-1].read_detail


def test_not_a_tar(tmp_path):
  path = tmp_path / "junk.tar"
  path.write_bytes(b"")
  [example] = readers.read_shard(str(path))
  assert example.read_error == reasons.UNREADABLE_SHARD


def test_missing_file_is_a_reject_row_not_a_crash(tmp_path):
  [example] = readers.read_shard(str(tmp_path / "gone.tar"))
  assert example.read_error == reasons.UNREADABLE_SHARD


def test_oversized_member_is_not_read(tmp_path):
  path = tmp_path / "big.tar"
  path.write_bytes(tar_bytes(_examples(2)))
  examples = list(readers.read_shard(str(path), max_member_bytes=10))
  assert [e.read_error for e in examples] == [reasons.OVERSIZED_MEMBER] * 2
  assert "jpg" not in examples[0].members and examples[0].members["txt"] == b"caption 0"


def test_repeated_member_starts_a_new_example(tmp_path):
  path = tmp_path / "dup.tar"
  path.write_bytes(tar_bytes([("a.jpg", b"1"), ("a.txt", b"x"), ("a.jpg", b"2"), ("a.txt", b"y")]))
  examples = list(readers.read_shard(str(path)))
  assert [(e.key, e.members["jpg"]) for e in examples] == [("a", b"1"), ("a", b"2")]


def test_parquet_with_image_bytes(tmp_path):
  path = tmp_path / "part-0.parquet"
  table = pa.table({
      "url": ["http://a", "http://b", "http://c"],
      "caption": ["a cat", None, "a dog"],
      "jpg": [b"\xff\xd8a", b"\xff\xd8b", None],
      "width": [10, 20, 30],
  })
  pq.write_table(table, path)
  examples = list(readers.read_shard(str(path)))
  assert [e.key for e in examples] == ["part-0000000000", "part-0000000001", "part-0000000002"]
  assert examples[0].members["jpg"] == b"\xff\xd8a"
  assert examples[0].members["txt"] == b"a cat"
  assert json.loads(examples[0].members["json"]) == {"url": "http://a", "caption": "a cat", "width": 10}
  assert "txt" not in examples[1].members
  assert "jpg" not in examples[2].members


def test_parquet_alttext_columns(tmp_path):
  path = tmp_path / "alt.parquet"
  pq.write_table(pa.table({"URL": ["http://a"], "TEXT": ["hello"], "key": ["k1"]}), path)
  [example] = readers.read_shard(str(path))
  assert example.key == "k1" and example.members["txt"] == b"hello"
  assert json.loads(example.members["json"])["url"] == "http://a"


def test_match_shards(tmp_path):
  for name in ["00001.tar", "00000.tar", "notes.txt"]:
    (tmp_path / name).write_bytes(b"")
  assert readers.match_shards(str(tmp_path / "*")) == [str(tmp_path / "00000.tar"), str(tmp_path / "00001.tar")]
  with pytest.raises(FileNotFoundError, match="no files match"):
    readers.match_shards(str(tmp_path / "nothing-*.tar"))
