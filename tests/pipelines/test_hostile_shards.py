"""Hostile shards, each as it once failed: compressed bombs, huge captions, wrong parquet types, rowless keys."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import time
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.curation import samples
from tests.pipelines.tarutil import tar_bytes, write_gzip_bomb
from webpairs.curation import annotate, lid, reasons
from webpairs.formats.raw import RawExample
from webpairs.pipelines.raw import readers

JPEG = samples.encode(samples.photo(0, 64, 48), "JPEG", quality=90)


@pytest.fixture(scope="module")
def ident() -> lid.LanguageIdentifier:
  return lid.LanguageIdentifier()


def _summary(examples: list[RawExample]) -> list[tuple]:
  return [(e.key, e.offset, e.read_error, sorted(e.members)) for e in examples]


def test_compressed_bomb_is_skipped_without_inflating_it_into_memory(tmp_path):
  # 64 MiB of zeros in a 64 kB gzip; Beam's decompression held all of it at once.
  path = tmp_path / "bomb.tar.gz"
  write_gzip_bomb(path, 64 << 20, tail=[("000000.txt", b"a cat"), ("000001.jpg", b"\xff\xd8x"),
                                          ("000001.txt", b"a dog")])
  assert path.stat().st_size < 128 << 10
  tracemalloc.start()
  try:
    examples = list(readers.read_shard(str(path), max_member_bytes=1 << 20))
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while skipping a 64 MiB member"
  assert _summary(examples) == [("000000", 0, reasons.OVERSIZED_MEMBER, ["txt"]), ("000001", 1, None, ["jpg", "txt"])]
  assert examples[0].read_detail == f"000000.jpg: {64 << 20} bytes > {1 << 20}"


def _pax_bomb(path, size: int, first: bool) -> None:
  """A .tar.gz with a pax header of `size` zero bytes (before or after one good member)."""
  good = tarfile.TarInfo("000000.txt")
  good.size = 5
  pax = tarfile.TarInfo("././@PaxHeader")
  pax.type, pax.size = tarfile.XHDTYPE, size
  nxt = tarfile.TarInfo("000001.txt")
  nxt.size = 5
  with gzip.open(path, "wb", compresslevel=9) as gz:
    if not first:
      gz.write(good.tobuf(format=tarfile.USTAR_FORMAT) + b"a cat" + bytes(507))
    gz.write(pax.tobuf(format=tarfile.USTAR_FORMAT))
    for start in range(0, size, 1 << 20):
      gz.write(bytes(min(1 << 20, size - start)))
    gz.write(nxt.tobuf(format=tarfile.USTAR_FORMAT) + b"a dog" + bytes(507) + bytes(1024))


@pytest.mark.parametrize("first", [False, True])
def test_huge_pax_header_is_never_read_whole(tmp_path, first):
  # tarfile reads pax and long-name headers whole: 64 MiB of header cost 128 MiB and passed silently.
  path = tmp_path / "pax.tar.gz"
  _pax_bomb(path, 64 << 20, first)
  tracemalloc.start()
  try:
    examples = list(readers.read_shard(str(path)))
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert peak < 8 << 20
  header_at = 0 if first else 1024
  assert _summary(examples) == ([] if first else [("000000", 0, None, ["txt"])]) + [
      ("pax@broken_tar", 0 if first else 1, reasons.BROKEN_TAR, [])]
  assert examples[-1].read_detail == (f"extended header '././@PaxHeader' of {64 << 20} bytes at byte {header_at} "
                                      f"> {1 << 20}; the rest of the shard is not read")


CUT_A_B = [("a", 0, None, ["jpg", "txt"]), ("b", 1, reasons.TRUNCATED_TAR, [])]


# Cut inside b.jpg: a keeps its row, b is truncated_tar. bzip2 decodes whole 900 kB blocks
# only, so its one cut block gives one unreadable_shard row: never silence.
@pytest.mark.parametrize("suffix, opener, cut_rows", [
    (".tar.gz", "w:gz", CUT_A_B), (".tar.xz", "w:xz", CUT_A_B),
    (".tar.bz2", "w:bz2", [("cut@unreadable_shard", 0, reasons.UNREADABLE_SHARD, [])])])
def test_compressed_tars_cut_short_keep_their_rows(tmp_path, suffix, opener, cut_rows):
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode=opener) as tar:
    for name, data in [("a.jpg", b"\xff\xd8a"), ("a.txt", b"x"), ("b.jpg", random.Random(0).randbytes(20000)), ("b.txt", b"y")]:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  whole, cut = tmp_path / f"whole{suffix}", tmp_path / f"cut{suffix}"
  whole.write_bytes(buf.getvalue())
  cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
  assert _summary(readers._read_tar(str(whole), open(whole, "rb"), 1 << 20)) == [
      ("a", 0, None, ["jpg", "txt"]), ("b", 1, None, ["jpg", "txt"])]
  assert _summary(readers._read_tar(str(cut), open(cut, "rb"), 1 << 20)) == cut_rows


def test_fifty_mib_caption_is_rejected_before_any_per_character_work(ident):
  caption = b"a" * (50 << 20)
  ex = RawExample(key="000000001", source="s.tar", offset=0, members={"jpg": JPEG, "txt": caption})
  start = time.perf_counter()
  [row] = annotate.annotate_batch([ex], ident)
  seconds = time.perf_counter() - start
  assert row["status"] == reasons.CAPTION_TOO_LONG
  assert row["status_detail"] == (f"{50 << 20} characters > limit 2000 (the caption column keeps the first 2000)")
  assert row["n_chars"] == 50 << 20 and row["caption"] == "a" * 2000
  assert seconds < 2.0, seconds  # benchmarks/hostile_input.py prints the figure (0.1 s here)


def _parquet(tmp_path, table: pa.Table) -> str:
  path = tmp_path / "part-00000.parquet"
  pq.write_table(table, path)
  return str(path)


def test_parquet_int_columns_give_each_row_a_named_reason(tmp_path, ident):
  # The exact shard that lost rows: int caption, int64 image of 300000000 (300 MB per row).
  n = 10
  path = _parquet(tmp_path, pa.table({"key": [f"k{i}" for i in range(n)], "caption": list(range(n)),
                                      "jpg": [300000000] * n}))
  tracemalloc.start()
  try:
    examples = list(readers.read_shard(path))
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert peak < 8 << 20
  assert [e.key for e in examples] == [f"k{i}" for i in range(n)]
  assert {e.read_error for e in examples} == {reasons.MISSING_IMAGE}
  assert examples[3].read_detail == ("image column 'jpg' holds a int, not bytes; "
                                     "caption column 'caption' holds a int, not text")
  rows = annotate.annotate_batch(examples, ident)
  assert [r["status"] for r in rows] == [reasons.MISSING_IMAGE] * n
  assert rows[0]["status_detail"].startswith("image column 'jpg' holds a int, not bytes")


def test_parquet_wrong_caption_type_alone_is_missing_caption(tmp_path, ident):
  path = _parquet(tmp_path, pa.table({"caption": [5, None, 7], "jpg": [JPEG, JPEG, JPEG]}))
  rows = annotate.annotate_batch(list(readers.read_shard(path)), ident)
  assert [(r["key"], r["status"]) for r in rows] == [
      ("part-00000000000000", reasons.MISSING_CAPTION), ("part-00000000000001", reasons.MISSING_CAPTION),
      ("part-00000000000002", reasons.MISSING_CAPTION)]
  assert rows[0]["status_detail"] == "caption column 'caption' holds a int, not text"
  assert rows[1]["status_detail"] == "no .txt member and no caption in the .json"


def test_parquet_list_and_struct_values_are_named_not_converted(tmp_path):
  path = _parquet(tmp_path, pa.table({"caption": [["a", "b"], None], "image": [{"x": 1}, None],
                                      "key": [[1, 2], None]}))
  examples = list(readers.read_shard(path))
  assert [(e.key, e.read_error) for e in examples] == [
      ("part-00000000000000", reasons.MISSING_IMAGE), ("part-00000000000001", None)]
  assert examples[0].read_detail == ("image column 'image' holds a dict of 1 items, not bytes; "
                                     "caption column 'caption' holds a list of 2 items, not text")


def test_unreadable_row_group_costs_its_own_rows_only(tmp_path):
  path = tmp_path / "part-00000.parquet"
  table = pa.table({"caption": [f"caption {i}" for i in range(6)], "jpg": [bytes([i]) * 64 for i in range(6)]})
  pq.write_table(table, path, row_group_size=3, compression="none", use_dictionary=False)
  meta = pq.ParquetFile(path).metadata
  group0 = meta.row_group(0).column(1)  # the jpg column of rows 0-2
  data = bytearray(path.read_bytes())
  start = group0.data_page_offset
  data[start:start + 16] = b"\xff" * 16  # the page header is garbage now
  path.write_bytes(bytes(data))
  examples = list(readers.read_shard(str(path)))
  assert [(e.key, e.offset, e.read_error) for e in examples] == [
      (f"part-00000{i:09d}", i, reasons.UNREADABLE_SHARD if i < 3 else None) for i in range(6)]
  assert examples[0].read_detail.startswith("parquet row group 0 unreadable from row 0:")
  assert examples[4].members["txt"] == b"caption 4"


def _link(name: str, target: str) -> tarfile.TarInfo:
  info = tarfile.TarInfo(name)
  info.type, info.linkname = tarfile.SYMTYPE, target
  return info


def test_every_key_gets_a_row_all_links_and_empty_keys(tmp_path, ident):
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    tar.addfile(_link("000001.jpg", "/etc/passwd"))
    tar.addfile(_link("000001.txt", "/etc/hostname"))
    for name, data in [(".jpg", JPEG), (".txt", b"a photo with no key"), ("README", b"x")]:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  path = tmp_path / "00000.tar"
  path.write_bytes(buf.getvalue())
  examples = list(readers.read_shard(str(path)))
  assert _summary(examples) == [("000001", 0, None, []), ("", 1, None, ["jpg", "txt"]), ("README", 2, None, [])]
  rows = annotate.annotate_batch(examples, ident)
  assert [(r["key"], r["status"]) for r in rows] == [
      ("000001", reasons.MISSING_IMAGE), ("", reasons.OK), ("README", reasons.MISSING_IMAGE)]
  assert rows[0]["status_detail"] == (
      "no image member (members: none; not read: 000001.jpg, 000001.txt) [also: missing_caption]")


def test_unreadable_row_group_claiming_huge_counts_gets_one_row(tmp_path, monkeypatch):
  monkeypatch.setattr(readers, "MAX_LOST_PARQUET_ROWS", 2)
  path = tmp_path / "part-00000.parquet"
  pq.write_table(pa.table({"caption": ["a", "b", "c"], "jpg": [b"x" * 64] * 3}), path, compression="none",
                 use_dictionary=False)
  start = pq.ParquetFile(path).metadata.row_group(0).column(1).data_page_offset
  data = bytearray(path.read_bytes())
  data[start:start + 16] = b"\xff" * 16
  path.write_bytes(bytes(data))
  [example] = readers.read_shard(str(path))
  assert (example.key, example.offset, example.read_error) == ("part-00000000000000", 0, reasons.UNREADABLE_SHARD)
  assert example.read_detail.endswith("(3 rows claimed)")


def test_plain_tar_whose_first_name_looks_like_a_compression_magic(tmp_path):
  path = tmp_path / "00000.tar"
  path.write_bytes(tar_bytes([("BZh91AY.jpg", b"\xff\xd8a"), ("BZh91AY.txt", b"x"), ("\x1f\x8b.txt", b"y")]))
  assert _summary(readers.read_shard(str(path))) == [("BZh91AY", 0, None, ["jpg", "txt"]), ("\x1f\x8b", 1, None, ["txt"])]
