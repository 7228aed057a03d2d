"""Dedup on hashes: LSH banding guarantees, bucket pairs against brute force, stars, caption reuse."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from webpairs.curation import components, dedup, hashes


def _rand64(rng: np.random.Generator, n: int) -> np.ndarray:
  return rng.integers(0, 2**64, n, dtype=np.uint64)


def _flip_bits(value: int, bits: list[int]) -> int:
  for b in bits:
    value ^= 1 << b
  return value


def test_hex_u64_marks_missing_and_malformed():
  values, valid = dedup.hex_u64(["00000000000000ff", None, "zz00000000000000", "ffffffffffffffff", "abc"])
  assert valid.tolist() == [True, False, False, True, False]
  assert values[0] == 255 and values[3] == np.uint64(2**64 - 1)


def test_band_values_are_the_bit_chunks_of_phash_then_dhash():
  bands = dedup.band_values(np.array([0x0123456789ABCDEF], np.uint64), np.array([0xFEDCBA9876543210], np.uint64), 16)
  assert [hex(int(v)) for v in bands[0]] == ["0x123", "0x4567", "0x89ab", "0xcdef",
                                             "0xfedc", "0xba98", "0x7654", "0x3210"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.sets(st.integers(0, 127), max_size=7))
def test_pairs_differing_in_fewer_bits_than_bands_share_a_band(p, d, flipped):
  # 8 bands of 16 bits over 128 bits: up to 7 differing bits leave one band intact.
  p2 = _flip_bits(p, [b for b in flipped if b < 64])
  d2 = _flip_bits(d, [b - 64 for b in flipped if b >= 64])
  a = dedup.band_values(np.array([p, p2], np.uint64), np.array([d, d2], np.uint64), 16)
  assert (a[0] == a[1]).any()


def _brute_near(phash, dhash, ids, threshold):
  dp = hashes.hamming(phash[:, None], phash[None, :])
  dd = hashes.hamming(dhash[:, None], dhash[None, :])
  near = dedup.is_near(dp, dd, threshold)
  i, j = np.nonzero(np.triu(near, 1))
  return {frozenset((int(ids[a]), int(ids[b]))) for a, b in zip(i, j)}


def _connected(a, b, nodes):
  return components.union_find_labels(np.asarray(a), np.asarray(b), np.asarray(nodes))


def test_near_pairs_in_a_bucket_match_brute_force():
  rng = np.random.default_rng(0)
  n = 300
  band = rng.integers(0, 4, n).astype(np.uint64)  # few buckets: many pairs to check
  phash, dhash = _rand64(rng, n), _rand64(rng, n)
  for i in range(0, n, 3):  # plant near copies inside the same bucket
    phash[i + 1] = _flip_bits(int(phash[i]), [3, 17])
    dhash[i + 1] = _flip_bits(int(dhash[i]), [40])
    band[i + 1] = band[i]
  ids = rng.permutation(n).astype(np.int64) * 7
  got = dedup.near_pairs(band, phash, dhash, ids, threshold=10, window=1000)
  found = {frozenset((int(a), int(b))) for a, b in zip(got.a, got.b)}
  expected = set()
  for v in np.unique(band):
    m = band == v
    expected |= _brute_near(phash[m], dhash[m], ids[m], 10)
  assert found == expected and len(expected) >= 100
  assert got.capped_buckets == 0


_FEW_BITS = st.integers(0, 2**12 - 1).map(lambda v: v * 0x1001001001)  # small alphabet: many near and equal rows


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), _FEW_BITS, _FEW_BITS), max_size=80), st.integers(1, 6))
def test_near_pairs_match_brute_force_and_count_window_comparisons(rows, window):
  band = np.array([r[0] for r in rows], np.uint64)
  phash = np.array([r[1] for r in rows], np.uint64)
  dhash = np.array([r[2] for r in rows], np.uint64)
  ids = np.arange(len(rows), dtype=np.int64)[::-1].copy()
  expected = set()
  distinct = []  # distinct (phash, dhash) per bucket: what the window walks over
  for v in np.unique(band):
    m = band == v
    expected |= _brute_near(phash[m], dhash[m], ids[m], 10)
    distinct.append(len({(int(p), int(d)) for p, d in zip(phash[m], dhash[m])}))
  for w in (window, 100):
    got = dedup.near_pairs(band, phash, dhash, ids, threshold=10, window=w)
    found = {frozenset((int(a), int(b))) for a, b in zip(got.a, got.b)}
    assert found <= expected
    assert got.compared == sum(max(0, m - k) for m in distinct for k in range(1, w + 1))
    assert got.capped_buckets == sum(m > w + 1 for m in distinct)
    more = dedup.near_pairs(band, phash, dhash, ids, threshold=10, window=w, band_index=0)  # + order_keys' walks
    pairs = {frozenset((int(a), int(b))) for a, b in zip(more.a, more.b)}
    assert found <= pairs <= expected and len(pairs) == len(more)  # each pair once
    assert more.compared >= got.compared and more.capped_buckets == got.capped_buckets
  # A window past every bucket's size: the same clusters as all pairs (equal rows come as a star).
  a = [min(p) for p in expected if len(p) == 2]
  b = [max(p) for p in expected if len(p) == 2]
  assert (_connected(got.a, got.b, ids) == _connected(np.array(a, np.int64), np.array(b, np.int64), ids)).all()


def test_order_keys_cut_the_band_out_of_its_own_hash():
  p, d = np.array([0x0123456789ABCDEF], np.uint64), np.array([0xFEDCBA9876543210], np.uint64)
  cut = [int(dedup.without_band(p, j, 16)[0]) for j in range(4)]
  assert cut == [0x456789ABCDEF, 0x012389ABCDEF, 0x01234567CDEF, 0x0123456789AB]
  keys = dedup.order_keys(p, d, 5, 16)  # a dhash band: dhash is the band's own hash, phash the other
  assert [(int(k[0]), bits) for k, bits in keys] == [
      (0x0123456789ABCDEF, 64), (0x543210FEDC76, 48), (0x89ABCDEF01234567, 64)]  # FEDC76543210 rotated by 24


def _oversized_bucket(n: int = 2000):
  """(band, phash, dhash, ids) of n rows of one bucket (band 0: phash's top 16 bits all zero) whose rows
  0 and 1 differ only in phash's highest bit below the band: ~n / 2 rows apart by phash, past the window."""
  rng = np.random.default_rng(3)
  phash = _rand64(rng, n) >> np.uint64(16)
  dhash = _rand64(rng, n)
  phash[1] = phash[0] ^ np.uint64(1 << 47)
  dhash[1] = dhash[0]
  band = dedup.band_values(phash, dhash, 16, only=0)
  assert (band == 0).all()
  return band, phash, dhash, np.arange(n, dtype=np.int64)


def test_oversized_buckets_are_walked_in_more_orders():
  n = 2000
  band, phash, dhash, ids = _oversized_bucket(n)
  plain = dedup.near_pairs(band, phash, dhash, ids, 10, 64)
  more = dedup.near_pairs(band, phash, dhash, ids, 10, 64, band_index=0, band_bits=16)
  assert plain.capped_buckets == more.capped_buckets == 1
  assert (0, 1) not in set(zip(plain.a.tolist(), plain.b.tolist()))
  assert (0, 1) in set(zip(more.a.tolist(), more.b.tolist()))
  assert more.compared == plain.compared + 3 * (n * 16 - 16 * 17 // 2)  # order_keys' three walks, window 16
  assert plain.compared == n * 64 - 64 * 65 // 2


def test_identical_hashes_form_a_star_and_big_buckets_stay_linear():
  n = 5000
  band = np.zeros(n, np.uint64)
  phash = np.full(n, 0xAAAA, np.uint64)
  dhash = np.full(n, 0x5555, np.uint64)
  ids = np.arange(n, dtype=np.int64)[::-1].copy()
  got = dedup.near_pairs(band, phash, dhash, ids, threshold=10, window=8)
  assert len(got) == n - 1  # one edge per non-head row, no n^2 pairs
  assert set(got.a.tolist()) == {0}  # the head is the smallest id
  assert (_connected(got.a, got.b, ids) == 0).all()


def test_oversized_bucket_is_capped_and_counted():
  rng = np.random.default_rng(1)
  n = 200
  got = dedup.near_pairs(np.zeros(n, np.uint64), _rand64(rng, n), _rand64(rng, n), np.arange(n), 10, window=16)
  assert got.capped_buckets == 1
  assert got.compared == sum(n - k for k in range(1, 17))


def test_exact_pairs_link_identical_digests_to_the_smallest_id():
  digests = np.array([b"aa", b"bb", b"aa", b"cc", b"aa", b"bb"], dtype="S2")
  ids = np.array([5, 4, 3, 2, 1, 0], np.int64)
  got = dedup.exact_pairs(digests, ids)
  assert sorted(zip(got.a.tolist(), got.b.tolist())) == [(0, 4), (1, 3), (1, 5)]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60))
def test_star_edges_keep_connectivity(edges):
  a = np.array([e[0] for e in edges], np.int64)
  b = np.array([e[1] for e in edges], np.int64)
  sa, sb = dedup.star_edges(a, b)
  nodes = np.unique(np.concatenate([a, b])) if edges else np.zeros(0, np.int64)
  assert (_connected(sa, sb, nodes) == _connected(a, b, nodes)).all()
  assert len(sa) == len(nodes) - len(np.unique(_connected(a, b, nodes)))  # one edge per non-root
  assert (sa < sb).all()


def test_caption_dups_count_distinct_images():
  caption = np.array([1, 1, 1, 1, 2, 2, 2, 3], np.uint64)
  image = np.array([10, 11, 12, 12, 20, 20, 20, 30], np.uint64)  # caption 2: one image, three copies
  ids = np.arange(8, dtype=np.int64)
  got = dedup.caption_dups(caption, image, ids, max_images=2)
  assert got.ids.tolist() == [0, 1, 2, 3] and got.captions == 1
  assert dedup.caption_dups(caption, image, ids, max_images=3).ids.tolist() == []


def test_partition_of_is_stable_and_in_range():
  rng = np.random.default_rng(2)
  values = _rand64(rng, 1000)
  parts = dedup.partition_of(values, 7)
  assert parts.min() >= 0 and parts.max() < 7 and len(np.unique(parts)) == 7
  assert (dedup.partition_of(values.copy(), 7) == parts).all()


def test_window_bands_are_every_stride_th_band():
  assert dedup.WINDOW_BAND_STRIDE == 4
  assert dedup.window_bands(16) == [0, 4]  # phash's first 16 bits, dhash's first 16 bits
  assert dedup.window_bands(8) == list(range(0, 16, 4))
  assert dedup.window_bands(16, 2) == [0, 2, 4, 6] and dedup.window_bands(16, 1) == list(range(8))
  for bad in ((7, 2), (16, 0)):
    with pytest.raises(ValueError):
      dedup.window_bands(*bad)


def test_window_pairs_need_a_window_and_two_images():
  # content of 1, a window of 2 (3 bits off), a window of 1, content of 3 (3 bits off, 6 from 2's), a window of 4
  phash = np.array([0xF0, 0xF0 ^ 0b111, 0xF0, 0xF0 ^ 0b111000, 0xF0 ^ 0xFFFF_0000], np.uint64)
  dhash = np.array([0x0F, 0x0F, 0x0F ^ 0b1, 0x0F, 0x0F], np.uint64)
  ids = np.array([1, 2, 1, 3, 4], np.int64)
  is_window = np.array([False, True, True, False, True])
  band = np.zeros(5, np.uint64)
  got = dedup.window_pairs(band, phash, dhash, ids, is_window, threshold=3, window=10)
  # 1-2 (content-window and window-window), 3 with 1's window (3 bits), not 3-2 (6 bits); never 1-3
  # content-content (near_pairs' job), never 1 with itself, never 4 (16 bits off).
  pairs = {tuple(sorted(p)) for p in zip(got.a.tolist(), got.b.tolist())}
  assert pairs == {(1, 2), (1, 3)}
  assert got.compared == 8  # of the 10 pairs: not 1 with itself, not content 1 - content 3
  # Another bucket: nothing.
  got = dedup.window_pairs(np.arange(5, dtype=np.uint64), phash, dhash, ids, is_window, threshold=3, window=10)
  assert len(got) == 0 and got.compared == 0
  # Both hashes must be near: dhash of the window of 2 moved 4 bits.
  dhash2 = dhash.copy()
  dhash2[1] ^= np.uint64(0xF00)
  got = dedup.window_pairs(band, phash, dhash2, ids, is_window, threshold=3, window=10)
  assert {tuple(sorted(p)) for p in zip(got.a.tolist(), got.b.tolist())} == {(1, 3)}


def test_window_pairs_compare_neighbours_only():
  """A bucket of n entries costs at most n * window comparisons."""
  rng = np.random.default_rng(3)
  n = 500
  got = dedup.window_pairs(np.zeros(n, np.uint64), rng.integers(0, 2**64, n, dtype=np.uint64),
                           rng.integers(0, 2**64, n, dtype=np.uint64), np.arange(n), np.ones(n, bool), 10, window=8)
  assert got.compared <= n * 8 and len(got) == 0


def test_window_pairs_link_identical_entries_as_a_star():
  """1,000 blank images: their identical content and window hashes cost O(n), not n * window pairs."""
  n = 1000
  ids = np.repeat(np.arange(n), 10)  # content + 9 windows each, all the same hash
  is_window = np.tile(np.arange(10) > 0, n)
  zeros = np.zeros(10 * n, np.uint64)
  got = dedup.window_pairs(zeros, zeros, zeros, ids, is_window, threshold=10, window=64)
  assert len(got) < 10 * n and got.compared == 0
  a, b = dedup.star_edges(got.a, got.b)
  assert set(a.tolist()) == {0} and sorted(b.tolist()) == list(range(1, n))
  # Identical content hashes only (no window among them): near_pairs' job, nothing here.
  got = dedup.window_pairs(zeros[:n], zeros[:n], zeros[:n], np.arange(n), np.zeros(n, bool), 10, window=64)
  assert len(got) == 0


def test_aspect_codes_are_log2_steps_and_unknown_for_none():
  codes = dedup.aspect_codes([1.0, 2.0, 0.5, 1 / 0.85, 1.25, None, float("nan"), 0.0, 1e9, 1e-9])
  assert codes.dtype == np.int8
  assert codes.tolist() == [0, 32, -32, 8, 10, -128, -128, -128, 127, -127]
  assert dedup.aspect_codes(np.float32([1.5]))[0] == round(np.log2(1.5) * 32) == 19
  # 10 steps apart close, 11 not; unknown (-128) is close to anything.
  a = np.array([0, 0, 5, -128, 127], np.int8)
  b = np.array([10, 11, -6, 127, -128], np.int8)
  assert dedup.aspect_close(a, b).tolist() == [True, False, False, True, True]
  assert dedup.aspect_close(a, b, max_steps=11).tolist() == [True, True, True, True, True]


def test_window_pairs_need_close_content_aspects():
  # Image 1 (content + a window) and image 2 (a window, 3 bits off): linked at aspect codes 0 and 10,
  # not at 0 and 11; unknown codes (files without content_aspect) skip the check.
  phash = np.array([0xF0, 0xF0, 0xF0 ^ 0b111], np.uint64)
  dhash = np.array([0x0F, 0x0F ^ 0b1, 0x0F], np.uint64)
  ids = np.array([1, 1, 2], np.int64)
  is_window = np.array([False, True, True])
  band = np.zeros(3, np.uint64)

  def pairs(aspect):
    got = dedup.window_pairs(band, phash, dhash, ids, is_window, 3, 10, aspect=np.array(aspect, np.int8))
    return {tuple(sorted(p)) for p in zip(got.a.tolist(), got.b.tolist())}

  assert pairs([0, 0, 10]) == {(1, 2)}
  assert pairs([0, 0, 11]) == set()
  assert pairs([0, 0, -11]) == set()
  assert pairs([0, 0, dedup.ASPECT_UNKNOWN]) == {(1, 2)}
  assert pairs([dedup.ASPECT_UNKNOWN, dedup.ASPECT_UNKNOWN, 60]) == {(1, 2)}
  got = dedup.window_pairs(band, phash, dhash, ids, is_window, 3, 10)  # no codes: no check
  assert {tuple(sorted(p)) for p in zip(got.a.tolist(), got.b.tolist())} == {(1, 2)}


def test_window_pairs_identical_entries_of_different_aspects():
  """Blank images' identical windows: linked within an aspect code as a star, across codes only when close."""
  ids = np.repeat(np.arange(6), 2)  # content + one window each, all the same hash
  is_window = np.tile([False, True], 6)
  aspect = np.repeat(np.array([0, 0, 5, 40, 40, 100], np.int8), 2)
  zeros = np.zeros(12, np.uint64)
  got = dedup.window_pairs(zeros, zeros, zeros, ids, is_window, 10, 64, aspect=aspect)
  a, b = dedup.star_edges(got.a, got.b)
  groups = {}
  for x, y in zip(a.tolist(), b.tolist()):
    groups.setdefault(x, {x}).add(y)
  assert sorted(map(sorted, groups.values())) == [[0, 1, 2], [3, 4]]  # 5 (code 100) alone


def test_corner_keys_follow_the_content_bands():
  assert dedup.corner_keys(16, 2) == [8, 9]  # 8 bands of 16 bits (phash, dhash), then one key per corner
  assert dedup.corner_keys(8, 2) == [16, 17]
  assert not set(dedup.corner_keys(16, 2)) & set(dedup.window_bands(16, 1))


def test_corner_pairs_need_close_content_dhashes_and_aspects():
  """Two images' same corner window 3 bits apart: linked when their content dHashes are within
  CORNER_CONTENT_THRESHOLD and their aspect codes within CORNER_ASPECT_MAX_STEPS, else not."""
  phash = np.array([0xF0 << 48, (0xF0 << 48) ^ 0b111], np.uint64)
  dhash = np.array([0x0F, 0x0F ^ 0b1], np.uint64)
  ids = np.array([1, 2], np.int64)
  close = np.uint64(0xFFFF)

  def linked(aspect, content):
    got = dedup.corner_pairs(phash, dhash, ids, np.array(aspect, np.int8), np.array(content, np.uint64), 16, 10, 64)
    return {tuple(sorted(p)) for p in zip(got.a.tolist(), got.b.tolist())} == {(1, 2)}

  t = dedup.CORNER_CONTENT_THRESHOLD
  assert linked([3, 3], [close, close])
  assert linked([3, 3 + dedup.CORNER_ASPECT_MAX_STEPS], [close, close ^ np.uint64((1 << t) - 1)])
  assert not linked([3, 3 + dedup.CORNER_ASPECT_MAX_STEPS + 1], [close, close])  # 2 dark squares on gradients
  assert not linked([3, 3], [close, close ^ np.uint64((1 << (t + 1)) - 1)])  # content dHashes t + 1 apart
  # Identical corners (flat ones) of images with unrelated content are not starred together either.
  same = dedup.corner_pairs(phash[[0, 0]], dhash[[0, 0]], ids, np.array([3, 3], np.int8),
                            np.array([0, 2**64 - 1], np.uint64), 16, 10, 64)
  assert len(same) == 0


@pytest.mark.parametrize("chunk", [1, 37, 500, 4000, 1 << 20])
def test_window_pairs_in_chunks_finds_the_pairs_of_one_call(chunk):
  """Slices of buckets: the same pairs and comparisons as one window_pairs call over all entries."""
  rng = np.random.default_rng(11)
  n, k = 300, 9  # images, windows each
  base = rng.integers(0, 2**64, n // 3, dtype=np.uint64)
  phash = base[rng.integers(0, len(base), n)] ^ (np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64))
  dhash = base[rng.integers(0, len(base), n)] ^ (np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64))
  ids = np.arange(n, dtype=np.int64) * 7
  aspect = rng.integers(-20, 20, n).astype(np.int8)
  wp = np.repeat(phash, k) ^ rng.integers(0, 4, n * k).astype(np.uint64)
  wd = np.repeat(dhash, k) ^ (rng.integers(0, 4, n * k).astype(np.uint64) << np.uint64(60))
  wids, wasp = np.repeat(ids, k), np.repeat(aspect, k)
  band = lambda p, d: dedup.band_values(p, d, 16, only=1) >> np.uint64(12)  # 16 buckets: big ones  # noqa: E731
  content = (band(phash, dhash), phash, dhash, ids, aspect)
  windows = (band(wp, wd), wp, wd, wids, wasp)
  one = dedup.window_pairs(*(np.concatenate([c, w]) for c, w in zip(content[:4], windows[:4])),
                           np.arange(n + n * k) >= n, 10, 64, aspect=np.concatenate([aspect, wasp]))
  got = dedup.window_pairs_in_chunks(content, windows, 10, 64, chunk=chunk)
  assert len(one) > 100 and one.compared > 10_000
  assert sorted(zip(got.a.tolist(), got.b.tolist())) == sorted(zip(one.a.tolist(), one.b.tolist()))
  assert got.compared == one.compared and got.a.dtype == np.int64
  empty = dedup.window_pairs_in_chunks([x[:0] for x in content], windows, 10, 64, chunk=chunk)
  assert empty.compared == dedup.window_pairs(windows[0], wp, wd, wids, np.ones(n * k, bool), 10, 64,
                                              aspect=wasp).compared


def test_window_pairs_walk_oversized_buckets_in_more_orders():
  # As for near_pairs: a content entry of image 0 and a window entry of image 1 far apart in one
  # oversized bucket of window entries: found only by the extra walks, their comparisons counted; each pair once.
  n = 2000
  band, phash, dhash, ids = _oversized_bucket(n)
  is_window = np.arange(n) > 0
  plain = dedup.window_pairs(band, phash, dhash, ids, is_window, 10, 64)
  more = dedup.window_pairs(band, phash, dhash, ids, is_window, 10, 64, band_index=0, band_bits=16)
  assert (0, 1) not in set(zip(plain.a.tolist(), plain.b.tolist()))
  assert (0, 1) in set(zip(more.a.tolist(), more.b.tolist()))
  assert plain.compared == n * 64 - 64 * 65 // 2  # every entry a window of its own image: all candidates
  assert more.compared == plain.compared + 3 * (n * 16 - 16 * 17 // 2)
  pairs = set(zip(more.a.tolist(), more.b.tolist()))
  assert len(pairs) == len(more) and set(zip(plain.a.tolist(), plain.b.tolist())) <= pairs


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), _FEW_BITS, _FEW_BITS, st.integers(0, 5), st.booleans(),
                          st.integers(-3, 3)), max_size=60), st.integers(1, 4))
def test_window_pairs_extra_walks_stay_within_the_rule(rows, window):
  band = np.array([r[0] for r in rows], np.uint64)
  phash = np.array([r[1] for r in rows], np.uint64)
  dhash = np.array([r[2] for r in rows], np.uint64)
  ids = np.array([r[3] for r in rows], np.int64)
  is_window = np.array([r[4] for r in rows], bool)
  aspect = np.array([r[5] for r in rows], np.int8)
  allowed = set()  # brute force: the window rule over every pair of entries sharing a bucket
  for i in range(len(rows)):
    for j in range(i + 1, len(rows)):
      if band[i] == band[j] and ids[i] != ids[j] and (is_window[i] or is_window[j]) and abs(
          int(aspect[i]) - int(aspect[j])) <= 1 and dedup.is_near(
              hashes.hamming(phash[i], phash[j]), hashes.hamming(dhash[i], dhash[j]), 10):
        allowed.add(frozenset((int(ids[i]), int(ids[j]))))
  for i in range(len(rows)):  # identical entries of one aspect are starred when one of them is a window
    same = (band == band[i]) & (phash == phash[i]) & (dhash == dhash[i]) & (aspect == aspect[i])
    if is_window[same].any():
      allowed |= {frozenset((int(ids[i]), int(j))) for j in ids[same] if j != ids[i]}
  plain = dedup.window_pairs(band, phash, dhash, ids, is_window, 10, window, aspect=aspect, max_aspect_steps=1)
  more = dedup.window_pairs(band, phash, dhash, ids, is_window, 10, window, aspect=aspect, max_aspect_steps=1,
                            band_index=0)
  found = {frozenset((int(a), int(b))) for a, b in zip(plain.a, plain.b)}
  pairs = {frozenset((int(a), int(b))) for a, b in zip(more.a, more.b)}
  assert found <= pairs <= allowed and more.compared >= plain.compared
