"""Bucket walk speed: dedup.near_pairs / window_pairs against the same walk gathering each k's pairs by index.

One (band, partition) group of select at 1e7 rows: band_bits 16 gives 65,536 buckets per band,
so ~150 rows a bucket, and a group holds 1/128 of one band's buckets (~78k rows, + 5% planted
near copies). Both walks compare each distinct row with its next `bucket_window` (64) neighbours;
the baseline (webpairs before this benchmark) gathered the pairs of each k that share a bucket
with flatnonzero + fancy indexing and int64 distances, the shipped walk works on whole shifted
slices with uint8 bit counts. Both must give the same pairs and comparison counts (checked).
select also walks oversized buckets in dedup.order_keys' three more orders (window 16); its cost is printed
against the plain walk.

  PYTHONPATH=. .venv/bin/python benchmarks/near_pairs_speed.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from webpairs.curation import dedup  # noqa: E402  pylint: disable=wrong-import-position


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  return np.bitwise_count(a ^ b).astype(np.int64)


def gathered_walk(band, phash, dhash, ids, threshold, window, is_window=None, aspect=None):
  """The baseline: per k, the indices of rows k apart in one bucket, then gathers of their hashes."""
  if is_window is None:
    is_window, aspect = np.zeros(len(ids), bool), np.full(len(ids), dedup.ASPECT_UNKNOWN, np.int8)
  order = np.lexsort((ids, aspect, dhash, phash, band))
  band, phash, dhash, ids, is_window, aspect = (x[order] for x in (band, phash, dhash, ids, is_window, aspect))
  windows = is_window.any()
  out_a, out_b, compared = [], [], 0
  for k in range(1, min(window, len(ids) - 1) + 1):
    same = band[k:] == band[:-k]
    if not same.any():
      break
    if windows:
      same &= (ids[k:] != ids[:-k]) & (is_window[k:] | is_window[:-k])
    i = np.flatnonzero(same)
    j = i + k
    compared += len(i)
    near = dedup.is_near(_hamming(phash[i], phash[j]), _hamming(dhash[i], dhash[j]), threshold)
    if windows:
      near &= dedup.aspect_close(aspect[i], aspect[j])
    out_a.append(ids[i[near]])
    out_b.append(ids[j[near]])
  return np.concatenate(out_a), np.concatenate(out_b), compared


def one_group(rows: int, seed: int = 0) -> tuple[np.ndarray, ...]:
  """(band, phash, dhash, ids) of one select group at `rows` rows: 1/128 of band 0's buckets."""
  rng = np.random.default_rng(seed)
  phash = rng.integers(0, 2**64, rows, dtype=np.uint64)
  dhash = rng.integers(0, 2**64, rows, dtype=np.uint64)
  band = dedup.band_values(phash, dhash, 16, only=0)
  keep = band % np.uint64(128) == 0
  phash, dhash, band = phash[keep], dhash[keep], band[keep]
  src = rng.integers(0, len(phash), len(phash) // 20)
  flips = np.uint64(1) << rng.integers(0, 48, len(src)).astype(np.uint64)  # off band 0 (the top 16 bits): same bucket
  phash, dhash, band = (np.concatenate([phash, phash[src] ^ flips]), np.concatenate([dhash, dhash[src]]),
                        np.concatenate([band, band[src]]))
  _, first = np.unique(np.stack([phash, dhash]), axis=1, return_index=True)  # both walks star equal rows alike:
  first.sort()  # keep the comparison about the walk
  return band[first], phash[first], dhash[first], np.arange(len(first), dtype=np.int64)


def _best(fn, repeat: int):
  times = []
  for _ in range(repeat):
    start = time.perf_counter()
    got = fn()
    times.append(time.perf_counter() - start)
  return min(times), got


def _same(a1, b1, a2, b2) -> bool:
  key = lambda a, b: np.sort(np.minimum(a, b) * 2**32 + np.maximum(a, b))  # noqa: E731
  return np.array_equal(key(a1, b1), key(a2, b2))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", type=int, default=10_000_000, help="table size the group is cut from")
  parser.add_argument("--repeat", type=int, default=3, help="runs of each walk; the fastest counts")
  args = parser.parse_args()
  band, phash, dhash, ids = one_group(args.rows)
  print(f"group: {len(ids):,} rows of {args.rows:,}, {len(np.unique(band)):,} buckets")

  base_s, (a, b, compared) = _best(lambda: gathered_walk(band, phash, dhash, ids, 10, 64), args.repeat)
  new_s, got = _best(lambda: dedup.near_pairs(band, phash, dhash, ids, 10, 64), args.repeat)
  assert got.compared == compared and _same(got.a, got.b, a, b), "near_pairs differs from the baseline walk"
  print(f"near_pairs:   {compared:,} compared, {len(got):,} links; gathered {base_s:.3f} s, "
        f"shifted {new_s:.3f} s: {base_s / new_s:.2f}x")

  more_s, more = _best(lambda: dedup.near_pairs(band, phash, dhash, ids, 10, 64, band_index=0), args.repeat)
  print(f"near_pairs with the extra walks over oversized buckets (band_index 0, as select runs it): "
        f"{more.compared:,} compared, {len(more):,} links; {more_s:.3f} s: {more_s / new_s:.2f}x the walk above")

  # window_pairs: each row also as a window entry of another image (ids differ), random aspect codes.
  n = len(ids)
  rng = np.random.default_rng(1)
  wband, wp, wd = np.concatenate([band, band]), np.concatenate([phash, phash]), np.concatenate([dhash, dhash ^ 1])
  wids = np.concatenate([ids, ids + n])
  is_window = np.arange(2 * n) >= n
  aspect = rng.integers(-6, 6, 2 * n).astype(np.int8)
  base_s, (a, b, compared) = _best(lambda: gathered_walk(wband, wp, wd, wids, 10, 64, is_window, aspect), args.repeat)
  new_s, got = _best(lambda: dedup.window_pairs(wband, wp, wd, wids, is_window, 10, 64, aspect=aspect), args.repeat)
  assert got.compared == compared and _same(got.a, got.b, a, b), "window_pairs differs from the baseline walk"
  print(f"window_pairs: {compared:,} compared, {len(got):,} links; gathered {base_s:.3f} s, "
        f"shifted {new_s:.3f} s: {base_s / new_s:.2f}x")


if __name__ == "__main__":
  main()
