"""Duplicates from hashes alone: exact (sha256), near-duplicate images (LSH bands), caption reuse.

Everything works on numpy arrays of one group (one LSH bucket range, one sha256 range,
...) and returns pairs of row ids; `pipelines/select/select.py` forms the groups and joins the
pairs into clusters. Ids are int64 (file index << 32 | row index) so that a tie between
equal hashes is broken the same way on every run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

HASH_BITS = 64
DEFAULT_THRESHOLD = 10
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: spreads band values over partitions


_NIBBLE = np.full(256, 255, dtype=np.uint8)  # ASCII hex digit -> its value; 255: not a hex digit
for _i, _c in enumerate("0123456789abcdef"):
  _NIBBLE[ord(_c)] = _NIBBLE[ord(_c.upper())] = _i


def hex_u64(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
  """16-hex-char hashes (None or malformed allowed) -> (uint64 array, valid mask), vectorised."""
  ok = [isinstance(v, str) and len(v) == 16 for v in values]
  text = "".join(v if good else "0" * 16 for v, good in zip(values, ok))
  digits = _NIBBLE[np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)].reshape(len(values), 16)
  valid = np.array(ok, dtype=bool) & (digits != 255).all(axis=1)
  out = np.zeros(len(values), dtype=np.uint64)
  for i in range(16):
    out = (out << np.uint64(4)) | digits[:, i].astype(np.uint64)
  out[~valid] = 0
  return out, valid


def is_near(phash_dist: np.ndarray, dhash_dist: np.ndarray, threshold: int) -> np.ndarray:
  """The near-duplicate rule: phash *and* dhash within `threshold` bits.

  Either hash alone lets unrelated photos through at thresholds where edits are still
  missed; requiring both moves the closest unrelated pair well past the threshold
  (benchmarks/neardup_quality.py).
  """
  return (np.asarray(phash_dist) <= threshold) & (np.asarray(dhash_dist) <= threshold)


def check_band_bits(band_bits: int) -> None:
  if band_bits <= 0 or HASH_BITS % band_bits:
    raise ValueError(f"band_bits must divide {HASH_BITS}, got {band_bits}")


def band_values(phash: np.ndarray, dhash: np.ndarray, band_bits: int, only: int | None = None) -> np.ndarray:
  """(n, 2 * 64 / band_bits) uint64: the bit chunks of phash, then of dhash ((n,): band `only`).

  Two images share a band when one chunk is identical; a pair that differs in fewer
  bits than there are bands always shares one (pigeonhole), and real near-duplicates
  differ in a few clustered bits, so most pairs within the threshold share several.
  """
  check_band_bits(band_bits)
  mask = np.uint64((1 << band_bits) - 1)
  per = HASH_BITS // band_bits
  def chunk(band: int) -> np.ndarray:
    h = np.asarray(phash if band < per else dhash, np.uint64)
    return (h >> np.uint64(HASH_BITS - band_bits * (band % per + 1))) & mask

  if only is not None:
    return chunk(only)
  return np.stack([chunk(j) for j in range(2 * per)], axis=1)


def partition_of(values: np.ndarray, partitions: int) -> np.ndarray:
  """Partition in [0, partitions) of each uint64 value; equal values always share one."""
  mixed = np.asarray(values, dtype=np.uint64) * _MIX
  return ((mixed >> np.uint64(32)) % np.uint64(max(1, partitions))).astype(np.int64)


@dataclasses.dataclass
class Pairs:
  """Linked id pairs of one group and what it cost."""

  a: np.ndarray  # int64 ids
  b: np.ndarray
  compared: int = 0  # hash comparisons made
  capped_buckets: int = 0  # buckets larger than the comparison window

  def __len__(self) -> int:
    return len(self.a)


def _runs(*keys: np.ndarray) -> np.ndarray:
  """Start index of the run each position belongs to, for arrays sorted by `keys`."""
  n = len(keys[0])
  new = np.ones(n, dtype=bool)
  if n > 1:
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
      same &= k[1:] == k[:-1]
    new[1:] = ~same
  starts = np.flatnonzero(new)
  return starts[np.cumsum(new) - 1]


def _near_shifted(phash: np.ndarray, dhash: np.ndarray, k: int, threshold: int) -> np.ndarray:
  """`is_near` of every row i and row i + k (uint8 bit counts, no int64 distances)."""
  return is_near(np.bitwise_count(phash[k:] ^ phash[:-k]), np.bitwise_count(dhash[k:] ^ dhash[:-k]), threshold)


def _walk(band: np.ndarray, phash: np.ndarray, dhash: np.ndarray, ids: np.ndarray, threshold: int, window: int,
          out_a: list, out_b: list, candidates: Callable[[int], np.ndarray] | None = None,
          accept: Callable[[int], np.ndarray] | None = None) -> int:
  """Pairs within `threshold` among rows sorted by band, each with its next `window` rows of its bucket,
  appended to out_a / out_b; returns the comparisons made. `candidates(k)` / `accept(k)`: masks over
  the pairs (i, i + k) that narrow the pairs compared (and counted) / the pairs kept."""
  compared = 0
  for k in range(1, min(window, len(ids) - 1) + 1):
    near = band[k:] == band[:-k]
    if not near.any():
      break  # sorted by band: no pair k apart shares a bucket, so none further apart does
    if candidates is not None:
      near &= candidates(k)
    compared += int(np.count_nonzero(near))
    # Whole shifted slices, not gathers of the pairs that share a bucket: at 1e7 rows most rows
    # k apart do (buckets of ~150), and this is 1.65x faster on such a group (benchmarks/near_pairs_speed.py).
    near &= _near_shifted(phash, dhash, k, threshold)
    if accept is not None:
      near &= accept(k)
    i = np.flatnonzero(near)
    out_a.append(ids[i])
    out_b.append(ids[i + k])
  return compared


def without_band(h: np.ndarray, chunk: int, band_bits: int) -> np.ndarray:
  """`h` with its `chunk`-th band_bits-bit chunk (from the top, as `band_values`) cut out: 64 - band_bits bits."""
  low_bits = HASH_BITS - band_bits * (chunk + 1)
  high = h >> np.uint64(low_bits + band_bits) if chunk else np.zeros(len(h), np.uint64)
  return (high << np.uint64(low_bits)) | (h & np.uint64((1 << low_bits) - 1))


def _rotated(h: np.ndarray, by: int, bits: int) -> np.ndarray:
  mask = np.uint64((1 << bits) - 1)
  return ((h << np.uint64(by)) | (h >> np.uint64(bits - by))) & mask


# The extra walks over oversized buckets (`near_pairs`) compare a row with its next 16 rows in each
# order: at 1/4 of a window of 64's cost, on random rows (benchmarks/lsh_window_recall.py) pairs 5 + 5
# bits apart are linked directly at 0.86 at 1e9 rows and 0.57 at 1e11 (about 0.90 and 0.65 with 64; 0.49
# and 0.24 without the walks; 0.94 is the bands' ceiling), pairs 2 + 2 apart at 1.0 (0.79, 0.61 without).
EXTRA_WALK_WINDOW = 16


def order_keys(phash: np.ndarray, dhash: np.ndarray, band_index: int, band_bits: int) -> list[tuple[np.ndarray, int]]:
  """(key, its bits) of the extra walks over oversized buckets of band `band_index` (`near_pairs`).

  In one bucket the band's own hash varies only outside the band, so it is cut out; sorted by a hash,
  a pair differing in one of its high bits lies about (bucket rows) * 2^(position - bits) rows apart.
  The other hash, and each hash rotated by half its bits, put other bits first.
  """
  per = HASH_BITS // band_bits
  own, other = (phash, dhash) if band_index < per else (dhash, phash)
  own = without_band(np.asarray(own, np.uint64), band_index % per, band_bits)
  bits = HASH_BITS - band_bits
  other = np.asarray(other, np.uint64)
  return [(other, HASH_BITS), (_rotated(own, bits // 2, bits), bits),
          (_rotated(other, HASH_BITS // 2, HASH_BITS), HASH_BITS)]


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Each unordered pair once, as (smaller id, larger id), in (larger, smaller) order."""
  lo, hi = np.minimum(a, b), np.maximum(a, b)
  order = np.lexsort((lo, hi))
  lo, hi = lo[order], hi[order]
  keep = np.ones(len(lo), bool)
  keep[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
  return lo[keep], hi[keep]


def near_pairs(band: np.ndarray, phash: np.ndarray, dhash: np.ndarray, ids: np.ndarray, threshold: int,
               window: int, band_index: int | None = None, band_bits: int = 16) -> Pairs:
  """Pairs within `threshold` among rows that share a band value (one band's bucket rows).

  Identical (phash, dhash) rows are linked to the first of them (a star, O(n)); the
  distinct hashes of a bucket, in hash order, are compared with their next `window`
  neighbours, so an oversized bucket costs O(n * window) and is counted as capped.
  In an oversized bucket a near pair whose hashes differ in a high bit sorts far apart (at
  band_bits 16 every bucket passes a window of 64 from about 4e6 rows, and by 1e10 rows a
  third of the pairs 2 + 2 bits apart would be missed: benchmarks/lsh_window_recall.py), so
  given the `band_index` the values are of, the rows of oversized buckets are walked again in
  each of `order_keys`' orders with a window of EXTRA_WALK_WINDOW, and pairs found more than once
  are reported once.
  """
  band = np.asarray(band, np.uint64)
  phash = np.asarray(phash, np.uint64)
  dhash = np.asarray(dhash, np.uint64)
  ids = np.asarray(ids, np.int64)
  order = np.lexsort((ids, dhash, phash, band))
  band, phash, dhash, ids = band[order], phash[order], dhash[order], ids[order]
  head = _runs(band, phash, dhash)
  dup = head != np.arange(len(ids))
  out_a, out_b = [ids[head[dup]]], [ids[dup]]
  reps = ~dup
  band, phash, dhash, ids = band[reps], phash[reps], dhash[reps], ids[reps]
  compared = _walk(band, phash, dhash, ids, threshold, window, out_a, out_b)
  capped, extra = _extra_walks(band, phash, dhash, ids, threshold, window, band_index, band_bits, out_a, out_b)
  if extra is not None:
    return Pairs(*_unique_pairs(np.concatenate(out_a), np.concatenate(out_b)), compared + extra, capped)
  return Pairs(np.concatenate(out_a), np.concatenate(out_b), compared, capped)


def _extra_walks(band: np.ndarray, phash: np.ndarray, dhash: np.ndarray, ids: np.ndarray, threshold: int,
                 window: int, band_index: int | None, band_bits: int, out_a: list, out_b: list,
                 masks: Callable[[np.ndarray], tuple] | None = None) -> tuple[int, int | None]:
  """(oversized buckets, comparisons of the extra walks or None when none ran) of rows sorted by band:
  the rows of buckets larger than the window walked again in each of `order_keys`' orders with a window
  of EXTRA_WALK_WINDOW (pairs appended to out_a / out_b). `masks(order)` gives `_walk`'s candidates and
  accept for the rows reordered by `order` (an index into the rows given)."""
  if len(band) <= window + 1:
    return 0, None
  _, counts = np.unique(band, return_counts=True)
  big = counts > window + 1
  capped = int(big.sum())
  if not capped or band_index is None:
    return capped, None
  rows = np.flatnonzero(np.repeat(big, counts))  # band is sorted: the rows of the oversized buckets
  bb, pp, dd = band[rows], phash[rows], dhash[rows]
  compared = 0
  for key, bits in order_keys(pp, dd, band_index, band_bits):
    # One uint64 of band and the key's top bits, stably sorted (2 ms against a 3-key lexsort's 22 ms on
    # an 82k-row group); ties keep the rows' order, so runs give the same pairs.
    o = np.argsort((bb << np.uint64(HASH_BITS - band_bits)) | (key >> np.uint64(bits - HASH_BITS + band_bits)),
                   kind="stable")
    at = rows[o]
    candidates, accept = masks(at) if masks is not None else (None, None)
    compared += _walk(band[at], phash[at], dhash[at], ids[at], threshold, min(window, EXTRA_WALK_WINDOW),
                      out_a, out_b, candidates, accept)
  return capped, compared


# Window hashes (annotate's window_phash/window_dhash) enter every WINDOW_BAND_STRIDE-th band only
# (select's dedup.window_band_stride). On real photos at t = 10 (benchmarks/neardup_quality.py):
# stride 4 (2 of 8 bands; 9 x 2 entries of 18 bytes = 324 shuffle bytes per row, + 20 of aspect codes)
# finds 0.97 of 5% and of 10% crops, stride 2 (4 bands, 648 + 40 bytes) 0.97 and 1.0; no false merges with either.
WINDOW_BAND_STRIDE = 4


def window_bands(band_bits: int, stride: int = WINDOW_BAND_STRIDE) -> list[int]:
  """The bands (indices into `band_values`) that window hashes are bucketed by: every `stride`-th."""
  check_band_bits(band_bits)
  if stride < 1:
    raise ValueError(f"window band stride must be >= 1, got {stride}")
  return list(range(0, 2 * HASH_BITS // band_bits, stride))


# Content aspect ratios (annotate's content_aspect) travel with window hashes as int8 codes: round(log2(aspect)
# * ASPECT_STEPS_PER_OCTAVE), so one step is 2^(1/32) = 1.022x and codes span 1/15.6x..15.6x (clipped);
# ASPECT_UNKNOWN where there is none (annotation files written before the column).
ASPECT_STEPS_PER_OCTAVE = 32
ASPECT_UNKNOWN = -128
# A pair found only through window hashes is linked when the content aspects are at most this many steps
# apart: 2^(10/32) = 1.24x. A crop of s off one side changes the aspect by 1/(1 - s) (1.11x at 10%, 1.18x
# at 15%); letterbox, resize, re-encode and overlays keep it (bars are left out). Measured, edit vs original
# (benchmarks/neardup_quality.py, 8 photos): at most 6 steps for 10% crops, 8 for 15%, 2 for letterbox and
# text; the two window-only merges of unrelated synthetic images in the demo sample were 30 and 42 steps
# apart (1.94x, 2.51x). 10 keeps every crop of up to 15% and 2 steps for small images' rounding.
# Content-content pairs (`near_pairs`) are not checked: letterbox, resize and re-encode keep recall 1.0.
ASPECT_MAX_STEPS = 10


def aspect_codes(aspect) -> np.ndarray:
  """int8 codes of width / height ratios (None, NaN or <= 0: ASPECT_UNKNOWN); see ASPECT_STEPS_PER_OCTAVE."""
  a = np.asarray([np.nan if v is None else v for v in aspect] if isinstance(aspect, list) else aspect, np.float64)
  ok = np.isfinite(a) & (a > 0)
  codes = np.full(a.shape, ASPECT_UNKNOWN, np.int8)
  codes[ok] = np.clip(np.round(np.log2(a[ok]) * ASPECT_STEPS_PER_OCTAVE), -127, 127).astype(np.int8)
  return codes


def aspect_close(a: np.ndarray, b: np.ndarray, max_steps: int = ASPECT_MAX_STEPS) -> np.ndarray:
  """Elementwise: aspect codes within `max_steps`, or either unknown (the check is skipped)."""
  a, b = np.asarray(a, np.int16), np.asarray(b, np.int16)
  return (np.abs(a - b) <= max_steps) | (a == ASPECT_UNKNOWN) | (b == ASPECT_UNKNOWN)


def window_pairs(band: np.ndarray, phash: np.ndarray, dhash: np.ndarray, ids: np.ndarray, is_window: np.ndarray,
                 threshold: int, window: int, aspect: np.ndarray | None = None,
                 max_aspect_steps: int = ASPECT_MAX_STEPS, guard: np.ndarray | None = None,
                 guard_threshold: int = 0, band_index: int | None = None, band_bits: int = 16) -> Pairs:
  """Crop-resistant pairs of one band's bucket rows: content or window hashes of two images within `threshold`.

  Entries are whole-content hashes (`is_window` False) and window hashes (True) of images `ids`;
  a pair needs a window entry on at least one side and two different ids (content-content pairs
  are `near_pairs`' job) and, given the entries' `aspect` codes (`aspect_codes` of their images'
  content aspect), codes within `max_aspect_steps` (`aspect_close`). Identical entries (blank
  images' windows) of one aspect code are linked to the first of them when one is a window (a
  star, O(n)) and go on as one entry; the distinct ones are compared with their next `window`
  neighbours in (band, phash, dhash, aspect) order, so a bucket costs O(n * window) as in `near_pairs`.
  With `guard` (uint64 per entry: `corner_pairs` gives each corner window its image's content dHash) a
  pair also needs the two within `guard_threshold` bits, and only entries with equal guards are starred.
  Given the `band_index` the values are of, oversized buckets get `near_pairs`' extra walks (a bucket
  holds ~10 entries an image, so it passes the window from about 4e5 images), and each pair is reported once.
  """
  band = np.asarray(band, np.uint64)
  phash = np.asarray(phash, np.uint64)
  dhash = np.asarray(dhash, np.uint64)
  ids = np.asarray(ids, np.int64)
  is_window = np.asarray(is_window, bool)
  aspect = np.full(len(ids), ASPECT_UNKNOWN, np.int8) if aspect is None else np.asarray(aspect, np.int8)
  guarded = guard is not None
  guard = np.zeros(len(ids), np.uint64) if guard is None else np.asarray(guard, np.uint64)
  order = np.lexsort((ids, guard, aspect, dhash, phash, band))
  band, phash, dhash, ids, is_window, aspect, guard = (
      x[order] for x in (band, phash, dhash, ids, is_window, aspect, guard))
  head = _runs(band, phash, dhash, aspect, guard)
  any_window = np.zeros(len(ids), dtype=bool)
  np.logical_or.at(any_window, head, is_window)
  dup = head != np.arange(len(ids))
  star = dup & any_window[head] & (ids != ids[head])
  out_a, out_b = [ids[head[star]]], [ids[star]]
  reps = ~dup
  band, phash, dhash, ids, is_window, aspect, guard = (
      x[reps] for x in (band, phash, dhash, ids, any_window, aspect, guard))
  aspect = aspect.astype(np.int16)

  def masks(at: np.ndarray | None = None) -> tuple[Callable, Callable]:
    """`_walk`'s candidates and accept over the entries (reordered by `at`)."""
    w_ids, w_win, w_asp, w_guard = (x if at is None else x[at] for x in (ids, is_window, aspect, guard))

    def candidates(k: int) -> np.ndarray:  # two images, at least one entry a window
      return (w_ids[k:] != w_ids[:-k]) & (w_win[k:] | w_win[:-k])

    def accept(k: int) -> np.ndarray:
      ok = aspect_close(w_asp[k:], w_asp[:-k], max_aspect_steps)
      if guarded:
        ok &= np.bitwise_count(w_guard[k:] ^ w_guard[:-k]) <= guard_threshold
      return ok

    return candidates, accept

  compared = _walk(band, phash, dhash, ids, threshold, window, out_a, out_b, *masks())
  _, extra = _extra_walks(band, phash, dhash, ids, threshold, window, band_index, band_bits, out_a, out_b, masks)
  if extra is not None:
    return Pairs(*_unique_pairs(np.concatenate(out_a), np.concatenate(out_b)), compared + extra)
  return Pairs(np.concatenate(out_a), np.concatenate(out_b), compared)


# Corner windows (annotation format 7: the top-left and bottom-right windows of 75% after the 3x3 grid,
# curation/image.CORNER_SHARE) find a badge or logo in a corner, which every 90% grid window holds. Small
# windows of simple images match across images (a gradient corner of one synthetic image and of another,
# a top-left of one letterboxed 4:1 photo and the bottom-right of another), so a corner window is only
# compared with the same corner of other images, in its own LSH keys (`corner_keys`: they never share a
# bucket with content or grid windows), bucketed by CORNER_BAND of its hashes alone, and a pair also needs
#   - content dHashes within CORNER_CONTENT_THRESHOLD: the page.png badges that only corners find are 4
#     bits off (their content pHashes 16 and 32, no better than chance, so dHash only), unrelated pairs
#     whose same corners matched at t <= 14 were 15-28 apart, but for one pair of synthetic images (a dark
#     square on a yellow and on a green gradient: 4 and 5);
#   - content aspects within CORNER_ASPECT_MAX_STEPS (1.044x): an overlay keeps the geometry (edit vs
#     original at most 1 step), those two synthetic images were 4 steps apart.
# Measured on the real photos' edits, the img2dataset letterboxed 4:1 photos and two demo samples (1,820
# and 5,092 images, 13M unrelated pairs; benchmarks/neardup_quality.py, README): no unrelated pair passes
# both guards at corner shares 0.70-0.80 up to t=14.
CORNER_BAND = 0
CORNER_CONTENT_THRESHOLD = 8
CORNER_ASPECT_MAX_STEPS = 2


def corner_keys(band_bits: int, corners: int) -> list[int]:
  """The band keys of the corner windows, one per corner: after the content's bands (0 .. 2 * 64 / band_bits - 1)."""
  check_band_bits(band_bits)
  first = 2 * HASH_BITS // band_bits
  return list(range(first, first + corners))


def corner_pairs(phash: np.ndarray, dhash: np.ndarray, ids: np.ndarray, aspect: np.ndarray, content_dhash: np.ndarray,
                 band_bits: int, threshold: int, window: int) -> Pairs:
  """Pairs of one corner's entries (that corner's window hashes of images `ids`, their content aspect codes
  and content dHashes) of one bucket range: corner hashes within `threshold` sharing CORNER_BAND, content
  dHashes within CORNER_CONTENT_THRESHOLD, aspects within CORNER_ASPECT_MAX_STEPS; `window_pairs`' order
  and neighbour window, so a bucket costs O(n * window)."""
  values = band_values(phash, dhash, band_bits, only=CORNER_BAND)
  return window_pairs(values, phash, dhash, ids, np.ones(len(ids), bool), threshold, window, aspect=aspect,
                      max_aspect_steps=CORNER_ASPECT_MAX_STEPS, guard=content_dhash,
                      guard_threshold=CORNER_CONTENT_THRESHOLD, band_index=CORNER_BAND, band_bits=band_bits)


# window_pairs_in_chunks: the most entries one window_pairs call sorts (its temporaries are about 140
# bytes an entry: 37 MB here, where a whole (band, partition) group of 2M entries took 285 MB).
WINDOW_PAIRS_CHUNK = 1 << 18


def window_pairs_in_chunks(content: Sequence[np.ndarray], windows: Sequence[np.ndarray], threshold: int, window: int,
                           max_aspect_steps: int = ASPECT_MAX_STEPS, chunk: int = WINDOW_PAIRS_CHUNK,
                           band_index: int | None = None, band_bits: int = 16) -> Pairs:
  """`window_pairs` of content entries and window entries, each (band, phash, dhash, ids, aspect), a slice of buckets at a time.

  A pair is only ever found inside one bucket (one band value), so the entries are cut by band value
  into ceil(n / `chunk`) slices and each slice is one `window_pairs` call: the same pairs (in another
  order) and the same `compared`, with temporaries of a slice, not of the whole group.
  """
  content = [np.asarray(x) for x in content]
  windows = [np.asarray(x) for x in windows]
  slices = max(1, -(-(len(content[0]) + len(windows[0])) // max(1, chunk)))
  of_c = np.asarray(content[0], np.uint64) % np.uint64(slices) if slices > 1 else None
  of_w = np.asarray(windows[0], np.uint64) % np.uint64(slices) if slices > 1 else None
  out_a, out_b, compared = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], 0
  for s in range(slices):
    c = content if of_c is None else [x[of_c == s] for x in content]
    w = windows if of_w is None else [x[of_w == s] for x in windows]
    got = window_pairs(*(np.concatenate([a, b]) for a, b in zip(c[:4], w[:4])),
                       np.arange(len(c[0]) + len(w[0])) >= len(c[0]), threshold, window,
                       aspect=np.concatenate([c[4], w[4]]), max_aspect_steps=max_aspect_steps,
                       band_index=band_index, band_bits=band_bits)
    out_a.append(got.a)
    out_b.append(got.b)
    compared += got.compared
    del c, w, got
  return Pairs(np.concatenate(out_a), np.concatenate(out_b), compared)


def exact_pairs(digests: np.ndarray, ids: np.ndarray) -> Pairs:
  """Rows with identical digests (fixed-width bytes, e.g. sha256 hex as 'S64'), as stars."""
  digests = np.asarray(digests)
  ids = np.asarray(ids, np.int64)
  order = np.lexsort((ids, digests))
  digests, ids = digests[order], ids[order]
  head = _runs(digests)
  dup = head != np.arange(len(ids))
  return Pairs(ids[head[dup]], ids[dup], compared=len(ids))


def star_edges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The same connectivity as the pairs (a[i], b[i]) with one edge per non-root node.

  Each component becomes a star around its smallest id, so fewer and shorter paths go
  into the distributed connected components.
  """
  a = np.asarray(a, np.int64)
  b = np.asarray(b, np.int64)
  if not len(a):
    return a, b
  nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
  n = len(nodes)
  graph = scipy.sparse.coo_matrix((np.ones(len(a), np.int8), (inverse[:len(a)], inverse[len(a):])), shape=(n, n))
  _, comp = scipy.sparse.csgraph.connected_components(graph, directed=False)
  root = np.full(comp.max() + 1, n, dtype=np.int64)
  np.minimum.at(root, comp, np.arange(n))  # nodes are sorted: first index = smallest id
  roots = root[comp]
  keep = roots != np.arange(n)
  return nodes[roots[keep]], nodes[keep]


@dataclasses.dataclass
class CaptionDups:
  ids: np.ndarray  # rows whose caption is on too many distinct images
  captions: int  # distinct captions flagged


def caption_dups(caption_hash: np.ndarray, image: np.ndarray, ids: np.ndarray, max_images: int) -> CaptionDups:
  """Rows whose normalised caption appears with more than `max_images` distinct images.

  `image` is an image identity per row (its phash, so re-encodes of one picture count
  once). Boilerplate alt-text ("image", "click here") is shared by thousands of
  unrelated images; a real caption repeated with the same picture is left to dedup.
  """
  caption_hash = np.asarray(caption_hash, np.uint64)
  image = np.asarray(image, np.uint64)
  ids = np.asarray(ids, np.int64)
  if not len(ids):
    return CaptionDups(ids, 0)
  order = np.lexsort((image, caption_hash))
  caption_hash, image, ids = caption_hash[order], image[order], ids[order]
  caption_head = _runs(caption_hash)
  first_of_pair = _runs(caption_hash, image) == np.arange(len(ids))
  distinct = np.zeros(len(ids), dtype=np.int64)
  np.add.at(distinct, caption_head, first_of_pair.astype(np.int64))
  flagged = distinct[caption_head] > max_images
  n_captions = int((flagged & (caption_head == np.arange(len(ids)))).sum())
  return CaptionDups(np.sort(ids[flagged]), n_captions)
