"""Near-dup recall of select's LSH walk as tables grow: does a near copy still meet its original past 1e7 rows?

select buckets rows by 16-bit bands (dedup.band_values: 8 bands over phash and dhash) and compares
each row with its next `bucket_window` (64) neighbours in (band, phash, dhash) order
(dedup.near_pairs). A bucket holds about rows / 65,536 rows, so past ~4e6 rows it is larger than
the window and a pair of one bucket meets only if fewer than 64 rows sort between them; so rows of
such buckets are walked again in three more orders (dedup.order_keys), each with a window of
dedup.EXTRA_WALK_WINDOW (16). This prints, with and without those walks,
per table size and edit size (bits flipped in each hash), the share of planted near pairs linked
directly in at least one band:

  - `measured`: dedup.near_pairs itself, band by band, over `--measure-rows` random rows holding the pairs;
  - `model`: the same walk in closed form for any size: in a band both keep, the rows between the two
    in sort order are Binomial(bucket rows, the share of the bucket's key range between them);
  - `any band`: the LSH ceiling (the pair shares a band value; an unbounded window).

Only direct links: select also joins a pair through a chain of other near copies (components), so
its recall on clusters is at least this. Random rows stand in for web hashes (which cluster, and
so make buckets uneven and this optimistic).

  PYTHONPATH=. .venv/bin/python benchmarks/lsh_window_recall.py [--measure-rows 1000000,10000000]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from webpairs.curation import dedup  # noqa: E402  pylint: disable=wrong-import-position

BAND_BITS, WINDOW, THRESHOLD = 16, 64, 10
BANDS = 2 * dedup.HASH_BITS // BAND_BITS


def planted(rng: np.random.Generator, pairs: int, flips: int) -> tuple[np.ndarray, ...]:
  """(phash, dhash) of `pairs` random originals and of copies with `flips` distinct bits flipped in each hash."""
  p = rng.integers(0, 2**64, pairs, dtype=np.uint64)
  d = rng.integers(0, 2**64, pairs, dtype=np.uint64)

  def flipped(h: np.ndarray) -> np.ndarray:
    bits = np.argsort(rng.random((pairs, 64)), axis=1)[:, :flips].astype(np.uint64)
    mask = np.bitwise_or.reduce(np.uint64(1) << bits, axis=1) if flips else np.zeros(pairs, np.uint64)
    return h ^ mask

  return p, d, flipped(p), flipped(d)


def _keys(p: np.ndarray, d: np.ndarray, j: int, extra: bool) -> list[tuple[np.ndarray, int]]:
  """(key, bits) of each walk over band j's buckets: (phash, dhash) order, then dedup.order_keys' orders."""
  per = BANDS // 2
  first = (dedup.without_band(p, j, BAND_BITS), 64 - BAND_BITS) if j < per else (p, 64)
  return [first] + (dedup.order_keys(p, d, j, BAND_BITS) if extra else [])


def model_recall(p, d, p2, d2, rows: float, rng: np.random.Generator, extra: bool = True) -> tuple[float, float]:
  """(direct-link share, any-band share) of the pairs in a table of `rows` random rows (see the module doc)."""
  same = dedup.band_values(p, d, BAND_BITS) == dedup.band_values(p2, d2, BAND_BITS)  # (pairs, bands)
  others = np.int64(round(max(rows / 2**BAND_BITS - 1, 0.0)))  # a bucket's other rows
  met = np.zeros(len(p), bool)
  for j in range(BANDS):
    for walk, ((k1, bits), (k2, _)) in enumerate(zip(_keys(p, d, j, extra), _keys(p2, d2, j, extra))):
      # The bucket's other rows are uniform over the key's bits: Binomial(others, share between the two).
      share = np.abs(k1.astype(np.float64) - k2.astype(np.float64)) / 2.0**bits
      window = WINDOW if walk == 0 else min(WINDOW, dedup.EXTRA_WALK_WINDOW)
      met |= same[:, j] & (rng.binomial(others, np.minimum(share, 1.0)) < window)
  return float(met.mean()), float(same.any(axis=1).mean())


def measured_recall(p, d, p2, d2, rows: int, rng: np.random.Generator, extra: bool = True) -> float:
  """The share of the pairs that dedup.near_pairs links directly among `rows` rows (the pairs and random others)."""
  n = len(p)
  fill = rows - 2 * n
  ph = np.concatenate([p, p2, rng.integers(0, 2**64, fill, dtype=np.uint64)])
  dh = np.concatenate([d, d2, rng.integers(0, 2**64, fill, dtype=np.uint64)])
  ids = np.arange(len(ph), dtype=np.int64)
  found = np.zeros(n, bool)
  for j in range(BANDS):
    got = dedup.near_pairs(dedup.band_values(ph, dh, BAND_BITS, only=j), ph, dh, ids, THRESHOLD, WINDOW,
                           band_index=j if extra else None, band_bits=BAND_BITS)
    lo, hi = np.minimum(got.a, got.b), np.maximum(got.a, got.b)
    hit = (lo < n) & (hi == lo + n)
    found[lo[hit]] = True
  return float(found.mean())


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--pairs", type=int, default=20_000, help="planted pairs per edit size")
  parser.add_argument("--flips", default="1,2,3,5", help="bits flipped in each hash (a pair is 2x apart in all)")
  parser.add_argument("--sizes", default="1e5,1e6,1e7,1e8,1e9,1e10,1e11", help="table sizes for the model")
  parser.add_argument("--measure-rows", default="1000000", help="table sizes to run near_pairs on ('' for none)")
  args = parser.parse_args()
  sizes = [float(s) for s in args.sizes.split(",")]
  measure = [int(float(s)) for s in args.measure_rows.split(",") if s]
  print(f"direct links of planted near pairs, {BANDS} bands of {BAND_BITS} bits, window {WINDOW}; "
        f"{args.pairs:,} pairs per edit size; walks: 1 = (phash, dhash) order only (before), "
        "more = with dedup.order_keys' orders over oversized buckets (shipped)")
  print(f"{'flips':>5} {'walks':>5} {'any band':>8} " + " ".join(f"{s:>7.0e}" for s in sizes) +
        "   measured near_pairs (rows: share, model)")
  walks = 1 + len(dedup.order_keys(np.zeros(1, np.uint64), np.zeros(1, np.uint64), 0, BAND_BITS))
  for flips in (int(f) for f in args.flips.split(",")):
    rng = np.random.default_rng(flips)
    p, d, p2, d2 = planted(rng, args.pairs, flips)
    for extra in (False, True):
      model = [model_recall(p, d, p2, d2, s, rng, extra) for s in sizes]
      cells = []
      for rows in measure:
        start = time.perf_counter()
        got = measured_recall(p, d, p2, d2, rows, rng, extra)
        want = model_recall(p, d, p2, d2, rows, rng, extra)[0]
        cells.append(f"{rows:.0e}: {got:.3f}, {want:.3f} ({time.perf_counter() - start:.0f} s)")
      print(f"{flips:>5} {walks if extra else 1:>5} {model[0][1]:>8.3f} " + " ".join(f"{m[0]:>7.3f}" for m in model) +
            "   " + "; ".join(cells), flush=True)


if __name__ == "__main__":
  main()
