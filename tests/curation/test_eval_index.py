"""Eval index: exact lookup against brute force, content versioning, table round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from webpairs.curation import dedup, eval_index, hashes


def _index(p, d, name="evalset"):
  return eval_index.make_index(name, [f"img{i}.png" for i in range(len(p))], list(map(int, p)), list(map(int, d)))


@pytest.mark.parametrize("threshold", [0, 4, 10, 17])
def test_matcher_finds_exactly_the_brute_force_matches(threshold):
  rng = np.random.default_rng(threshold)
  ip, idh = rng.integers(0, 2**64, 300, dtype=np.uint64), rng.integers(0, 2**64, 300, dtype=np.uint64)
  qp, qd = rng.integers(0, 2**64, 3000, dtype=np.uint64), rng.integers(0, 2**64, 3000, dtype=np.uint64)
  for i in range(0, 3000, 5):  # queries at every distance around the threshold
    src = i % 300
    flips = rng.choice(64, size=(i // 5) % (threshold + 3), replace=False)
    qp[i] = ip[src] ^ np.uint64(sum(1 << int(b) for b in flips))
    qd[i] = idh[src] ^ np.uint64(1 << int(rng.integers(64))) if i % 2 else idh[src]
  got = eval_index.Matcher(_index(ip, idh), threshold).match(qp, qd)
  brute = dedup.is_near(hashes.hamming(qp[:, None], ip[None, :]), hashes.hamming(qd[:, None], idh[None, :]),
                        threshold).any(axis=1)
  assert (got == brute).all() and brute.sum() >= 100


def test_version_depends_on_content_not_order_or_paths():
  a = eval_index.make_index("x", ["b.png", "a.png"], [1, 2], [3, 4])
  b = eval_index.make_index("x", ["z/a.png", "z/b.png"], [2, 1], [4, 3])
  c = eval_index.make_index("x", ["a.png", "b.png"], [2, 1], [4, 5])
  assert a.version == b.version != c.version
  assert a.paths == ("a.png", "b.png") and a.phash.tolist() == [2, 1]


def test_table_round_trip_and_tamper_check():
  idx = _index(np.array([1, 2, 3], np.uint64), np.array([4, 5, 6], np.uint64))
  table = eval_index.to_table(idx)
  back = eval_index.from_table(table)
  assert back.version == idx.version and back.paths == idx.paths and (back.phash == idx.phash).all()
  changed = [hashes.to_hex(np.array([9], np.uint64))[0]] + table["phash"].to_pylist()[1:]
  tampered = table.set_column(1, "phash", [changed])
  with pytest.raises(ValueError, match="does not match version"):
    eval_index.from_table(tampered)


def test_hash_image_matches_annotate_hashing_and_reports_bad_bytes():
  img = Image.new("RGB", (120, 90))
  img.paste((200, 30, 30), (10, 10, 60, 70))
  buf = io.BytesIO()
  img.save(buf, "PNG")
  p, d = eval_index.hash_image(buf.getvalue())
  assert isinstance(p, int) and isinstance(d, int)
  assert eval_index.hash_image(b"not an image")[0] == "corrupt_image"
  with pytest.raises(ValueError):
    eval_index.check_name("bad name/")
