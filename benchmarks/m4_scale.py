"""M4 at scale on one core: fit (cell-collapsed vs streaming) and apply on 1e6 examples, m = 2, c = 100.

  python benchmarks/m4_scale.py [--n 1000000]

Prints seconds and peak traced memory per phase and the ratio of the cell-collapsed fit's time
to the streaming fit's, both measured in this run on the same data.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ[_var] = "1"  # one core: set before numpy loads its BLAS

import argparse  # after the thread settings above
import resource
import time
import tracemalloc

import numpy as np

from webpairs.balancing import m4


def make_data(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Caption-like annotations: 60% of rows name a gender (70/30), 35% one or two occupations
  (Zipf-like popularity), occupation odds shifted by gender."""
  rng = np.random.default_rng(seed)
  has = rng.random(n) < 0.6
  first = has & (rng.random(n) < 0.7)
  s = np.stack([first, has & ~first], axis=1).astype(np.uint8)
  popularity = 1.0 / np.arange(1, c + 1)
  popularity /= popularity.sum()
  lean = rng.uniform(-0.8, 0.8, c)  # > 0: occupation leans to attribute 0
  y = np.zeros((n, c), np.uint8)
  k = np.where(rng.random(n) < 0.35, rng.integers(1, 3, n), 0)
  for slot in range(2):
    rows = np.flatnonzero(k > slot)
    # Tilt the occupation draw by gender: sample, then resample rejected draws once.
    j = rng.choice(c, size=len(rows), p=popularity)
    sign = np.where(s[rows, 0] == 1, 1.0, np.where(s[rows, 1] == 1, -1.0, 0.0))
    reject = rng.random(len(rows)) < 0.5 * (1 - sign * lean[j]) - 0.5 * (sign == 0)
    j[reject] = rng.choice(c, size=int(reject.sum()), p=popularity)
    y[rows, j] = 1
  return s, y


def timed(fn):
  t0 = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0


def traced_peak(fn) -> float:
  tracemalloc.start()
  tracemalloc.reset_peak()
  fn()
  _, peak = tracemalloc.get_traced_memory()
  tracemalloc.stop()
  return peak / 2**20


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--n", type=int, default=1_000_000)
  p.add_argument("--c", type=int, default=100)
  args = p.parse_args()
  if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
  s, y = make_data(args.n, args.c)
  keys = [f"shard-{i // 10_000:05d}/{i:08d}" for i in range(args.n)]
  kw = dict(pi=(0.3, 0.3), eps_rep=0.01, eps_assoc=0.002, eta=0.5)
  before = m4.bias_report(s, y, None, kw["pi"], eps_rep=kw["eps_rep"], eps_assoc=kw["eps_assoc"])

  stats, t_agg = timed(lambda: m4.CellStats.from_arrays(s, y))
  fit, t_solve = timed(lambda: m4.fit_cells(stats, **kw))
  t_cells = t_agg + t_solve

  def stream():
    return m4.StreamFitter(2, args.c, **kw, batch_size=256).partial_fit(s, y).flush().result()
  sfit, t_stream = timed(stream)
  q, t_q = timed(lambda: fit.q(s, y))
  keep, t_keep = timed(lambda: fit.keep(keys, s, y))

  after, stream_after = fit.report(s, y), sfit.report(s, y)
  mem = {
      "aggregate": traced_peak(lambda: m4.CellStats.from_arrays(s, y)),
      "solve": traced_peak(lambda: m4.fit_cells(stats, **kw)),
      "stream": traced_peak(stream),
      "q": traced_peak(lambda: fit.q(s, y)),
      "keep": traced_peak(lambda: fit.keep(keys, s, y)),
  }
  mib = (s.nbytes + y.nbytes) / 2**20
  print(f"n={args.n:,} m=2 c={args.c} cells={stats.n_cells:,} one core; input s+y {mib:.0f} MiB")
  print(f"before: worst violation {before['worst_violation']:.4f}; eta_max {fit.info['max_feasible_eta']:.4f}")
  print(f"cells fit : {t_cells:7.2f} s (aggregate {t_agg:.2f} s, LP + Newton {t_solve:.2f} s, "
        f"{fit.info['iterations']} Newton steps)  peak {max(mem['aggregate'], mem['solve']):7.1f} MiB  "
        f"worst violation {after['worst_violation']:.1e}, E[q] {q.mean():.6f}")
  print(f"stream fit: {t_stream:7.2f} s (batch 256, one pass)                   peak {mem['stream']:7.1f} MiB  "
        f"worst violation {stream_after['worst_violation']:.1e}, E[q] {stream_after['keep_rate']:.6f}")
  print(f"apply q   : {t_q:7.2f} s  peak {mem['q']:7.1f} MiB")
  print(f"apply keep: {t_keep:7.2f} s  peak {mem['keep']:7.1f} MiB  (blake2b per key; kept {keep.mean():.4f})")
  print(f"ratio cells fit / stream fit time: {t_cells / t_stream:.3f}")
  print(f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB")


if __name__ == "__main__":
  main()
