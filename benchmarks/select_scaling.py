"""Select scaling: seconds per row, peak RSS and shuffle bytes per row on web-like tables up to 1e7 rows.

Tables come from benchmarks/web_tables.py (exact and near copies across files, chains of
up to 2,000 near-duplicates, eval-set copies, 120 languages), 25,000 rows per file. Each
size runs `select` (config en90 + the eval index: filters, exact and near dedup, caption
reuse, eval overlap, quotas) in a fresh process on the local FnApiRunner. A pipeline has
a fixed cost (worker start-up, a few hundred stages), measured on 1,000 rows in the same
run; the per-row cost is (seconds - fixed) / rows, and the goal is that it grows at most
1.3x from one size to the next. Peak RSS: the driver (which on FnApiRunner also holds
every GroupByKey's input until the stage that reads it; benchmarks/select_memory.py shows which) and the largest worker process, and the whole process tree sampled every 0.5 s; a run whose tree
passes `--max-rss-gb` is stopped and reported as such.

  .venv/bin/python benchmarks/select_scaling.py [--sizes 100000,1000000,10000000] [--workers 2] [--windows on,off] [--repeat 2]

`--recount` also counts the content hash comparisons and links of dedup.near_pairs over all rows of each
table in this process, band by band, and prints them beside select's own (summary near_dup compared / links):
a band's buckets never straddle partitions, so the two must be equal.

`--repeat N` runs select N times on each size's table (and on the fixed cost's) and counts the fastest:
on a shared machine the others' work only adds time, and one run's seconds vary by 20% from hour to hour.

`--windows` runs each size with dedup.windows on, off or both (the tables always hold window hashes; `grid`:
windows on, dedup.corners off, as for annotation format 6's files);
the per-row growth below compares consecutive runs, so give one value when sizes grow.
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

import numpy as np  # noqa: E402  pylint: disable=wrong-import-position
import psutil  # noqa: E402  pylint: disable=wrong-import-position
import pyarrow.parquet as pq  # noqa: E402  pylint: disable=wrong-import-position
import web_tables  # noqa: E402  pylint: disable=wrong-import-position

_CHILD = """
import json, resource, sys, time
from webpairs.configs.curation import load_curation_config
from webpairs.pipelines.select import select
config = load_curation_config(sys.argv[2])
config.eval.indexes = (sys.argv[4],)
config.dedup.windows = sys.argv[5] in ("on", "grid")
config.dedup.corners = sys.argv[5] == "on"
start = time.perf_counter()
summary = select.run_select(sys.argv[1], config, sys.argv[3], sys.argv[6:], show_progress=False, overwrite=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rows": summary["input_examples"], "kept": summary["kept"],
                  "partitions": summary["partitions"], "rounds": summary["near_dup"]["rounds"],
                  "round_budget": summary["near_dup"]["round_budget"], "shuffle": summary["shuffle"],
                  "near_compared": summary["near_dup"].get("compared"), "near_links": summary["near_dup"].get("links"),
                  "window_compared": summary["near_dup"].get("window_compared", 0),
                  "window_links": summary["near_dup"].get("window_links", 0),
                  "corner_compared": summary["near_dup"].get("corner_compared", 0),
                  "corner_links": summary["near_dup"].get("corner_links", 0),
                  "driver_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "worker_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _watch(cmd: list[str], max_rss_gb: float) -> tuple[str | None, float, float]:
  """Runs `cmd`, stopping it if it and its worker processes pass `max_rss_gb` together.

  Returns (stdout or None if stopped, peak RSS of the process tree in GB, seconds).
  """
  start = time.perf_counter()
  proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                      env=dict(os.environ, PYTHONPATH=str(ROOT)))
  peak = 0.0
  while proc.poll() is None:
    try:
      tree = [proc] + proc.children(recursive=True)
      rss = sum(p.memory_info().rss for p in tree) / 2**30
    except psutil.Error:
      continue
    peak = max(peak, rss)
    if rss > max_rss_gb:
      for p in reversed(tree):
        p.kill()
      proc.wait()
      return None, peak, time.perf_counter() - start
    time.sleep(0.5)
  out = proc.stdout.read()
  if proc.returncode:
    raise RuntimeError(f"select failed with exit code {proc.returncode}")
  return out, peak, time.perf_counter() - start


def recount_near(paths: list[pathlib.Path], config: str) -> tuple[int, int]:
  """(comparisons, links) of dedup.near_pairs over all rows of `paths`, one band at a time, as select's groups."""
  from webpairs.configs.curation import load_curation_config  # pylint: disable=import-outside-toplevel
  from webpairs.curation import dedup  # pylint: disable=import-outside-toplevel
  d = load_curation_config(config).dedup
  phash, dhash = [], []
  for path in paths:
    table = pq.read_table(path, columns=["phash", "dhash"])
    p, p_ok = dedup.hex_u64(table.column("phash").to_pylist())
    h, h_ok = dedup.hex_u64(table.column("dhash").to_pylist())
    phash.append(p[p_ok & h_ok])
    dhash.append(h[p_ok & h_ok])
  phash, dhash = np.concatenate(phash), np.concatenate(dhash)
  ids = np.arange(len(phash), dtype=np.int64)
  compared = links = 0
  for j in range(2 * dedup.HASH_BITS // int(d.band_bits)):
    pairs = dedup.near_pairs(dedup.band_values(phash, dhash, int(d.band_bits), only=j), phash, dhash, ids,
                             int(d.threshold), int(d.bucket_window), band_index=j, band_bits=int(d.band_bits))
    compared, links = compared + pairs.compared, links + len(pairs)
  return compared, links


def run_one(rows: int, tmp: pathlib.Path, config: str, beam_args: list[str], max_rss_gb: float,
            windows: str = "on", recount: bool = False, repeat: int = 1) -> dict:
  """Select on a fresh table of `rows` rows, `repeat` times, each in a fresh process; `windows`: dedup.windows on
  or off. The fastest run's result (a shared machine's other work only ever adds time), every run's seconds
  (`all_seconds`) and the largest process tree seen in any run."""
  ann = tmp / f"ann{rows}"
  start = time.perf_counter()
  tables = web_tables.WebTables(rows, seed=rows % 9973)
  paths = tables.write(ann)
  index = tables.write_eval_index(str(tmp / f"eval{rows}.parquet"))
  generated = time.perf_counter() - start
  runs, peaks = [], []
  for _ in range(repeat):
    out, peak, seconds = _watch([sys.executable, "-c", _CHILD, str(ann), config, str(tmp / f"sel{rows}"), index,
                                 windows] + beam_args, max_rss_gb)
    peaks.append(peak)
    if out is None:
      runs = [{"stopped_s": seconds}]
      break
    runs.append(json.loads(out.strip().splitlines()[-1]))
  result = min(runs, key=lambda r: r.get("seconds", 0.0))
  result.update(files=len(paths), generated_s=generated, longest_chain=max(tables.chains, default=0), tree_gb=max(peaks),
                all_seconds=[r["seconds"] for r in runs if "seconds" in r])
  if recount:
    result["recount"] = recount_near(paths, config)
  for p in paths:  # the next size needs the disk
    p.unlink()
  return result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="100000,1000000,10000000")
  parser.add_argument("--config", default="en90")
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--windows", default="on", help="dedup.windows: on, off, grid (on without dedup.corners), or several (on,grid,off)")
  parser.add_argument("--max-rss-gb", type=float, default=9.0,
                      help="stop a run whose processes pass this much RSS together (a shared machine)")
  parser.add_argument("--repeat", type=int, default=1,
                      help="select runs per size (and for the fixed cost) on the same table; the fastest counts")
  parser.add_argument("--recount", action="store_true",
                      help="recount the content near-dup comparisons and links over all rows and compare")
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  beam_args = [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
  with tempfile.TemporaryDirectory() as tmp_dir:
    tmp = pathlib.Path(tmp_dir)
    fixed = run_one(1000, tmp, args.config, beam_args, args.max_rss_gb, repeat=args.repeat)["seconds"]
    print(f"config {args.config} + eval index, {args.workers} workers (FnApiRunner multi-processing), "
          f"{os.cpu_count()} cores; fixed cost, measured on 1,000 rows: {fixed:.1f}s", flush=True)
    print(f"{'rows':>11} {'win':>4} {'files':>6} {'parts':>5} {'chain':>6} {'rounds':>7} {'seconds':>8} {'us/row':>7} "
          f"{'shuffle B/row':>14} {'driver RSS MB':>14} {'worker RSS MB':>14} {'all GB':>7}")
    results = []
    for rows, windows in ((n, w) for n in sizes for w in args.windows.split(",")):
      r = run_one(rows, tmp, args.config, beam_args, args.max_rss_gb, windows, args.recount, args.repeat)
      if "seconds" not in r:
        print(f"{rows:>11,} {windows:>4} {r['files']:>6} stopped after {r['stopped_s']:.0f}s: the processes passed "
              f"{args.max_rss_gb:g} GB RSS together (peak seen {r['tree_gb']:.1f} GB)", flush=True)
        break
      per_row = (r["seconds"] - fixed) / rows * 1e6
      results.append((rows, windows, per_row, r))
      print(f"{rows:>11,} {windows:>4} {r['files']:>6} {r['partitions']:>5} {r['longest_chain']:>6} "
            f"{r['rounds']:>3}/{r['round_budget']:<3} {r['seconds']:>8.1f} {per_row:>7.2f} "
            f"{r['shuffle']['bytes_per_row']:>14.1f} {r['driver_kb'] / 1024:>14.0f} {r['worker_kb'] / 1024:>14.0f} "
            f"{r['tree_gb']:>7.2f}",
            flush=True)
      line = (f"{'':>11} kept {r['kept']:,}; near dup: select compared {r['near_compared']:,} links {r['near_links']:,}"
              f"; windows compared {r['window_compared']:,} links {r['window_links']:,}; corners compared "
              f"{r['corner_compared']:,} links {r['corner_links']:,}")
      if args.repeat > 1:
        line += "; seconds of each run " + ", ".join(f"{x:.1f}" for x in r["all_seconds"])
      if args.recount:
        (c, l), ok = r["recount"], tuple(r["recount"]) == (r["near_compared"], r["near_links"])
        line += f"; recount over all rows {c:,} / {l:,}: {'equal' if ok else 'DIFFERENT'}"
      print(line, flush=True)
  for setting in args.windows.split(","):
    mine = [(n, c, r) for n, w, c, r in results if w == setting]
    for (n0, c0, _), (n1, c1, _) in zip(mine, mine[1:]):
      print(f"windows {setting}: per-row cost {n0:,} -> {n1:,} rows: {c1 / c0:.2f}x (goal <= 1.3)")
    if mine:
      n, _, last = mine[-1]
      print(f"windows {setting}: shuffle bytes per row at {n:,}: " + ", ".join(
          f"{k} {v:.1f}" for k, v in sorted(last["shuffle"]["per_row"].items(), key=lambda kv: -kv[1])))
      print(f"windows {setting}: peak RSS at {n:,} rows: driver {last['driver_kb'] / 2**20:.2f} GB, largest worker "
            f"{last['worker_kb'] / 2**20:.2f} GB, all processes {last['tree_gb']:.2f} GB (goal < 3)")


if __name__ == "__main__":
  main()
