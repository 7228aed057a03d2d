"""Fuzzed hostile shards: random tar / tar.gz / parquet built from hostile parts never crash the reader or
annotate, give one row per example key (or parquet row), name every reject, and annotate the same twice."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.curation import samples
from webpairs.curation import annotate, lid, reasons
from webpairs.formats import annotation_files
from webpairs.formats.raw import split_key
from webpairs.pipelines.raw import readers

JPEG = samples.encode(samples.photo(0, 32, 24), "JPEG", quality=80)
FUZZ = settings(max_examples=int(os.environ.get("WEBPAIRS_FUZZ_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KEYS = st.sampled_from(["000001", "000002", "a", "", "dir/x", "../up", "/abs", "sp ace", "ключ", "x" * 120])
_EXTS = st.sampled_from(["jpg", "JPG", "txt", "json", "png", "tar.gz", "", None])
_DATA = st.one_of(
    st.just(JPEG), st.just(JPEG[: len(JPEG) // 2]), st.binary(max_size=300), st.just(bytes(5000)),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"{}", b"[1]", b'{"caption": 5, "url": "\\ud800"}', b"\xff\xfe", b"", b"a cat on a mat"]))
_TYPES = st.sampled_from([tarfile.REGTYPE] * 6 + [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE,
                                                 tarfile.FIFOTYPE, tarfile.CHRTYPE])
_MEMBERS = st.lists(st.tuples(_KEYS, _EXTS, _TYPES, _DATA), max_size=12)


@pytest.fixture(scope="module")
def ident() -> lid.LanguageIdentifier:
  return lid.LanguageIdentifier()


def _tar(members) -> bytes:
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for key, ext, kind, data in members:
      info = tarfile.TarInfo(key if ext is None else f"{key}.{ext}")
      info.type, info.mtime = kind, 0
      if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
      else:
        info.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
        tar.addfile(info)
  return buf.getvalue()


def _expected_keys(data: bytes) -> list[str]:
  """Example keys in order, by webdataset's rule, from tarfile's own random-access reading."""
  keys: list[tuple[str, set]] = []
  with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
    for info in tar.getmembers():
      if info.isdir():
        continue  # folder entries name no example
      key, ext = split_key(info.name) or (info.name, None)
      if not keys or keys[-1][0] != key or (ext is not None and ext in keys[-1][1]):
        keys.append((key, set()))
      if ext is not None:
        keys[-1][1].add(ext)
  return [k for k, _ in keys]


def _annotated_bytes(path: str, ident) -> tuple[list[dict], bytes]:
  examples = list(readers.read_shard(path, max_member_bytes=2048))  # bytes(5000) is oversized
  rows = annotate.annotate_batch(examples, ident)
  out = io.BytesIO()
  pq.write_table(pa.Table.from_pylist(rows, schema=annotation_files.ANNOTATION_SCHEMA), out, compression="zstd")
  return rows, out.getvalue()


def _check_rows(rows: list[dict]) -> None:
  assert [r["offset"] for r in rows] == list(range(len(rows)))
  for row in rows:
    assert row["status"] in reasons.ALL_STATUSES
    assert (row["status"] == reasons.OK) == (row["status_detail"] == ""), row


def _write(folder: str, name: str, data: bytes) -> str:
  path = os.path.join(folder, name)
  with open(path, "wb") as f:
    f.write(data)
  return path


@FUZZ
@given(members=_MEMBERS, compress=st.booleans(), cut=st.none() | st.floats(0, 1))
def test_fuzzed_tars(ident, members, compress, cut):
  data = _tar(members)
  raw = gzip.compress(data, mtime=0) if compress else data
  if cut is not None:
    raw = raw[:int(len(raw) * cut)]
  with tempfile.TemporaryDirectory() as folder:
    path = _write(folder, "00000.tar.gz" if compress else "00000.tar", raw)
    rows, first = _annotated_bytes(path, ident)
    _, second = _annotated_bytes(path, ident)
  assert first == second
  _check_rows(rows)
  for row in rows:
    event(row["status"])  # pytest --hypothesis-show-statistics shows which rejects the fuzzer reached
  if cut is None:
    assert [r["key"] for r in rows] == _expected_keys(data)
  else:  # the rows before the cut keep their keys; the cut itself is named, never silent
    expected = _expected_keys(data)
    keys = [r["key"] for r in rows]
    whole = [k for k in keys if not k.startswith("00000@")]
    assert whole == expected[:len(whole)]
    if len(whole) < len(expected):
      assert rows[-1]["status"] in (reasons.TRUNCATED_TAR, reasons.BROKEN_TAR, reasons.UNREADABLE_SHARD)


_COLUMN = st.sampled_from(["string", "binary", "int64", "list", "struct", "null", "bool"])


def _column(kind: str, n: int, draw) -> pa.Array:
  if kind == "string":
    return pa.array(draw(st.lists(st.none() | st.text(max_size=30), min_size=n, max_size=n)), pa.string())
  if kind == "binary":
    return pa.array(draw(st.lists(st.none() | _DATA, min_size=n, max_size=n)), pa.binary())
  if kind == "int64":
    return pa.array(draw(st.lists(st.none() | st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n)), pa.int64())
  if kind == "list":
    return pa.array([[i] * 3 for i in range(n)], pa.list_(pa.int32()))
  if kind == "struct":
    return pa.array([{"x": i} for i in range(n)])
  if kind == "bool":
    return pa.array([i % 2 == 0 for i in range(n)])
  return pa.nulls(n)


@FUZZ
@given(data=st.data(), n=st.integers(0, 12), columns=st.dictionaries(
    st.sampled_from(["key", "caption", "TEXT", "jpg", "image", "url", "regions", "page_lang"]), _COLUMN, max_size=6),
    cut=st.none() | st.floats(0, 1))
def test_fuzzed_parquet(ident, data, n, columns, cut):
  table = pa.table({name: _column(kind, n, data.draw) for name, kind in columns.items()} or {"x": pa.nulls(n)})
  buf = io.BytesIO()
  pq.write_table(table, buf, row_group_size=max(1, n // 2))
  raw = buf.getvalue() if cut is None else buf.getvalue()[:int(len(buf.getvalue()) * cut)]
  with tempfile.TemporaryDirectory() as folder:
    path = _write(folder, "part-00000.parquet", raw)
    rows, first = _annotated_bytes(path, ident)
    _, second = _annotated_bytes(path, ident)
  assert first == second
  _check_rows(rows)
  for row in rows:
    event(row["status"])
  if cut is None:
    assert len(rows) == n  # one row per parquet row, whatever the column types
  else:
    assert len(rows) in (1, n) and (len(rows) == n or rows[0]["status"] == reasons.UNREADABLE_SHARD)
