"""Where select's memory is, process by process and stage by stage, on the local FnApiRunner.

Runs select (config en90 + the eval index, as benchmarks/select_scaling.py) on web-like
tables (benchmarks/web_tables.py, kept in --dir for reruns) in a child process whose
driver logs when each fused stage's bundle starts and ends, and samples the RSS of the
driver and of each worker process every 0.25 s. Prints the run's seconds, the peak of
the whole tree (and each process's RSS at that moment), each process's own peak, and per
stage of over a second the largest tree, driver and worker RSS seen while it ran.

  .venv/bin/python benchmarks/select_rss_stages.py --rows 1000000 [--dir /tmp/t] [--partitions N] [--windows on]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHILD = """
import json, os, resource, sys, time
from webpairs.configs.curation import load_curation_config
from webpairs.pipelines.runtime import options
from webpairs.pipelines.select import select
T0 = time.time()
beam_execute = options._FnApiRunner._execute_bundle
def execute(self, ctx, bundle_context_manager, bundle_input):
  start = time.time()
  try:
    return beam_execute(self, ctx, bundle_context_manager, bundle_input)
  finally:
    print(f"STAGE {start - T0:.2f} {time.time() - T0:.2f} {bundle_context_manager.stage.name}", file=sys.stderr, flush=True)
options._FnApiRunner._execute_bundle = execute
ann, index, out, windows, partitions = sys.argv[1:6]
config = load_curation_config("en90")
config.eval.indexes = (index,)
config.dedup.windows = windows == "on"
start = time.perf_counter()
summary = select.run_select(ann, config, out, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
                            show_progress=False, overwrite=True, partitions=int(partitions) or None)
print(json.dumps({"seconds": time.perf_counter() - start, "partitions": summary["partitions"], "t0": T0}))
"""


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", type=int, default=1_000_000)
  parser.add_argument("--dir", default=None, help="where the tables are kept (default: a temporary folder)")
  parser.add_argument("--partitions", type=int, default=0, help="0: select's automatic count")
  parser.add_argument("--windows", default="on")
  parser.add_argument("--output", default=None, help="the selection folder (default: in --dir)")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    tmp = pathlib.Path(args.dir or scratch)
    if not (tmp / "ann").exists():
      rows = args.rows
      subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'benchmarks'); import web_tables; "
                      f"t = web_tables.WebTables({rows}, seed={rows} % 9973); t.write('{tmp}/ann'); "
                      f"t.write_eval_index('{tmp}/eval.parquet')"], check=True, cwd=ROOT)
    log = tmp / "stages.log"
    start = time.time()
    with open(log, "w", encoding="utf-8") as err:
      proc = psutil.Popen([sys.executable, "-c", _CHILD, str(tmp / "ann"), str(tmp / "eval.parquet"),
                           args.output or str(tmp / "sel"), args.windows, str(args.partitions)],
                          stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
      samples, peaks = [], {}
      while proc.poll() is None:
        try:
          rss = {p.pid: p.memory_info().rss for p in [proc] + proc.children(recursive=True)}
        except psutil.Error:
          continue
        for pid, n in rss.items():
          peaks[pid] = max(peaks.get(pid, 0), n)
        samples.append((time.time(), rss))
        time.sleep(0.25)
    if proc.returncode:
      raise RuntimeError(f"select failed with exit code {proc.returncode}; see {log}")
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    stages = []
    for line in open(log, encoding="utf-8"):
      if line.startswith("STAGE "):
        _, a, b, name = line.split(" ", 3)
        stages.append((result["t0"] + float(a), result["t0"] + float(b), re.sub(r"[()]", "", name.strip())))
  mb = 1 << 20
  driver = proc.pid
  workers = sorted((pid for pid in peaks if pid != driver and peaks[pid] > 50 * mb), key=lambda p: -peaks[p])
  at, top = max(samples, key=lambda s: sum(s[1].values()))
  print(f"select of {args.rows:,} rows, {result['partitions']} partitions, windows {args.windows}: "
        f"{result['seconds']:.1f} s")
  print(f"peak of all processes together: {sum(top.values()) / mb:,.0f} MB at {at - start:.0f} s (driver "
        f"{top.get(driver, 0) / mb:,.0f}, workers " + ", ".join(f"{top.get(w, 0) / mb:,.0f}" for w in workers) + ")")
  print(f"each process's own peak: driver {peaks[driver] / mb:,.0f} MB, workers "
        + ", ".join(f"{peaks[w] / mb:,.0f}" for w in workers) + f" (sum {sum(peaks.values()) / mb:,.0f} MB)")
  print("per stage of over 1 s (MB, largest seen while it ran): all, driver, workers")
  for a, b, name in stages:
    seen = [rss for t, rss in samples if a <= t <= b]
    if b - a < 1 or not seen:
      continue
    print(f"  {a - start:7.1f}-{b - start:7.1f} s {max(sum(r.values()) for r in seen) / mb:6,.0f} "
          f"{max(r.get(driver, 0) for r in seen) / mb:6,.0f} "
          + " ".join(f"{max(r.get(w, 0) for r in seen) / mb:6,.0f}" for w in workers) + f"  {name[:80]}")


if __name__ == "__main__":
  main()
