"""Select scaling: seconds per 1e4 rows and peak RSS on generated annotation tables of growing size.

Each size runs `select` (config en90: filters, exact and near dedup, caption reuse,
quotas) in a fresh process on the local runner. A pipeline has a fixed cost (worker
start-up, a few dozen stages), measured on a 1,000-row table in the same run; at 1e4
rows it dominates, so raw seconds per row fall with size. Whether the per-row cost
grows with size is measured by the cost per added row between consecutive sizes: a
later step may cost at most 1.5x the earlier one per row (no superlinear growth).
Times are the best of `--repeats` runs (the machine may be shared); peak RSS is the
largest seen.

  .venv/bin/python benchmarks/select_scaling.py [--sizes 10000,100000,1000000] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pipelines import annotation_tables  # noqa: E402  pylint: disable=wrong-import-position

ROWS_PER_FILE = 25_000  # about what one annotate shard file holds at img2dataset's shard size
_CHILD = """
import json, resource, sys, time
from webpairs.pipelines import select
start = time.perf_counter()
summary = select.run_select(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:], show_progress=False)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": summary["input_examples"], "kept": summary["kept"],
                  "partitions": summary["partitions"],
                  "driver_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_one(rows: int, tmp: pathlib.Path, config: str, beam_args: list[str], repeats: int) -> dict:
  """Best time and largest peak RSS of `repeats` select runs, each in a fresh process."""
  ann = tmp / f"ann{rows}"
  files = max(2, rows // ROWS_PER_FILE)
  annotation_tables.write_tables(ann, rows, num_files=files, seed=rows % 9973, boilerplate_rate=0.002)
  runs = []
  for _ in range(repeats):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ann), config, str(tmp / f"sel{rows}")] + beam_args,
                         check=True, capture_output=True, text=True, cwd=ROOT)
    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
  result = min(runs, key=lambda r: r["seconds"])
  result.update(files=files, driver_kb=max(r["driver_kb"] for r in runs),
                worker_kb=max(r["worker_kb"] for r in runs))
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="10000,100000,1000000")
  parser.add_argument("--config", default="en90")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  beam_args = [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
  with tempfile.TemporaryDirectory() as tmp_dir:
    tmp = pathlib.Path(tmp_dir)
    fixed = run_one(1000, tmp, args.config, beam_args, args.repeats)["seconds"]
    print(f"config {args.config}, {args.workers} workers (FnApiRunner multi-processing); "
          f"fixed cost, measured on 1,000 rows: {fixed:.1f}s", flush=True)
    print(f"{'rows':>10} {'files':>6} {'parts':>6} {'seconds':>8} {'s/1e4 rows':>11} "
          f"{'driver RSS MB':>14} {'worker RSS MB':>14}")
    results = []
    for rows in sizes:
      r = run_one(rows, tmp, args.config, beam_args, args.repeats)
      results.append((rows, r["seconds"]))
      print(f"{rows:>10,} {r['files']:>6} {r['partitions']:>6} {r['seconds']:>8.1f} {r['seconds'] / rows * 1e4:>11.3f} "
            f"{r['driver_kb'] / 1024:>14.0f} {r['worker_kb'] / 1024:>14.0f}", flush=True)
  slopes = []
  for (n0, t0), (n1, t1) in zip(results, results[1:]):
    slope = (t1 - t0) / (n1 - n0) * 1e4
    slopes.append(slope)
    print(f"cost per added row, {n0:,} -> {n1:,} rows: {slope:.3f} s/1e4 rows")
  if len(slopes) >= 2:
    growth = max(b / a for a, b in zip(slopes, slopes[1:]))
    print(f"per-row cost growth, later step / earlier step: {growth:.2f} (goal <= 1.5); raw s/1e4 rows, "
          f"largest / smallest size: {results[-1][1] / results[-1][0] / (results[0][1] / results[0][0]):.2f}")


if __name__ == "__main__":
  main()
