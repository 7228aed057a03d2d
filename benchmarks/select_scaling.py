"""Select scaling: seconds per row, peak RSS and shuffle bytes per row on web-like tables up to 1e7 rows.

Tables come from benchmarks/web_tables.py (exact and near copies across files, chains of
up to 2,000 near-duplicates, eval-set copies, 120 languages), 25,000 rows per file. Each
size runs `select` (config en90 + the eval index: filters, exact and near dedup, caption
reuse, eval overlap, quotas) in a fresh process on the local FnApiRunner. A pipeline has
a fixed cost (worker start-up, a few hundred stages), measured on 1,000 rows in the same
run; the per-row cost is (seconds - fixed) / rows, and the goal is that it grows at most
1.3x from one size to the next. Peak RSS: the driver (which on FnApiRunner also holds
every PCollection between stages) and the largest worker process.

  .venv/bin/python benchmarks/select_scaling.py [--sizes 100000,1000000,10000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import web_tables  # noqa: E402  pylint: disable=wrong-import-position

_CHILD = """
import json, resource, sys, time
from webpairs.configs.curation import load_curation_config
from webpairs.pipelines import select
config = load_curation_config(sys.argv[2])
config.eval.indexes = (sys.argv[4],)
start = time.perf_counter()
summary = select.run_select(sys.argv[1], config, sys.argv[3], sys.argv[5:], show_progress=False, overwrite=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": summary["input_examples"], "kept": summary["kept"],
                  "partitions": summary["partitions"], "rounds": summary["near_dup"]["rounds"],
                  "round_budget": summary["near_dup"]["round_budget"], "shuffle": summary["shuffle"],
                  "driver_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_one(rows: int, tmp: pathlib.Path, config: str, beam_args: list[str]) -> dict:
  """One select run on a fresh table of `rows` rows, in a fresh process."""
  ann = tmp / f"ann{rows}"
  start = time.perf_counter()
  tables = web_tables.WebTables(rows, seed=rows % 9973)
  paths = tables.write(ann)
  index = tables.write_eval_index(str(tmp / f"eval{rows}.parquet"))
  generated = time.perf_counter() - start
  out = subprocess.run([sys.executable, "-c", _CHILD, str(ann), config, str(tmp / f"sel{rows}"), index] + beam_args,
                       check=True, capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
  result = json.loads(out.stdout.strip().splitlines()[-1])
  result.update(files=len(paths), generated_s=generated, longest_chain=max(tables.chains, default=0))
  for p in paths:  # the next size needs the disk
    p.unlink()
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="100000,1000000,10000000")
  parser.add_argument("--config", default="en90")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  beam_args = [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
  with tempfile.TemporaryDirectory() as tmp_dir:
    tmp = pathlib.Path(tmp_dir)
    fixed = run_one(1000, tmp, args.config, beam_args)["seconds"]
    print(f"config {args.config} + eval index, {args.workers} workers (FnApiRunner multi-processing), "
          f"{os.cpu_count()} cores; fixed cost, measured on 1,000 rows: {fixed:.1f}s", flush=True)
    print(f"{'rows':>11} {'files':>6} {'parts':>5} {'chain':>6} {'rounds':>7} {'seconds':>8} {'us/row':>7} "
          f"{'shuffle B/row':>14} {'driver RSS MB':>14} {'worker RSS MB':>14}")
    results = []
    for rows in sizes:
      r = run_one(rows, tmp, args.config, beam_args)
      per_row = (r["seconds"] - fixed) / rows * 1e6
      results.append((rows, per_row, r))
      print(f"{rows:>11,} {r['files']:>6} {r['partitions']:>5} {r['longest_chain']:>6} "
            f"{r['rounds']:>3}/{r['round_budget']:<3} {r['seconds']:>8.1f} {per_row:>7.2f} "
            f"{r['shuffle']['bytes_per_row']:>14.1f} {r['driver_kb'] / 1024:>14.0f} {r['worker_kb'] / 1024:>14.0f}",
            flush=True)
  for (n0, c0, _), (n1, c1, _) in zip(results, results[1:]):
    print(f"per-row cost {n0:,} -> {n1:,} rows: {c1 / c0:.2f}x (goal <= 1.3)")
  last = results[-1][2]
  print(f"shuffle bytes per row at {results[-1][0]:,}: " + ", ".join(
      f"{k} {v:.1f}" for k, v in sorted(last["shuffle"]["per_row"].items(), key=lambda kv: -kv[1])))
  print(f"peak RSS at {results[-1][0]:,} rows: {max(last['driver_kb'], last['worker_kb']) / 2**20:.2f} GB "
        f"(goal < 3)")


if __name__ == "__main__":
  main()
