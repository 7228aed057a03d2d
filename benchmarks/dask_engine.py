"""annotate, select and materialize on a dask.distributed cluster, byte for byte against FnApiRunner.

A local cluster of `--workers` worker processes (one thread each) runs the three jobs
through webpairs.pipelines.runtime.dask_runner.DaskRunner (needs the `.[dask]` extra); the same
jobs run on the local FnApiRunner; every output file (annotations, selections, curated
shards and sidecars, summaries, manifest) must have the same bytes. Prints wall times.

  .venv/bin/python benchmarks/dask_engine.py [--examples 300] [--workers 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
import tempfile
import time

from dask.distributed import LocalCluster

from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.materialize import materialize as materialize_job
from webpairs.pipelines.select import select as select_job
from webpairs.demo.sample import writer

RUNNER = "--runner=webpairs.pipelines.runtime.dask_runner.DaskRunner"


def digests(folder: pathlib.Path) -> dict[str, str]:
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(folder.rglob("*")) if p.is_file() and ".tmp" not in p.parts}


def run_jobs(raw: pathlib.Path, out: pathlib.Path, beam_args: list[str]) -> dict[str, float]:
  seconds = {}
  start = time.perf_counter()
  annotate_job.run_annotate(str(raw / "*.tar"), str(out / "ann"), beam_args, show_progress=False)
  seconds["annotate"] = time.perf_counter() - start
  start = time.perf_counter()
  select_job.run_select(str(out / "ann"), "en90", str(out / "sel"), beam_args, show_progress=False)
  seconds["select"] = time.perf_counter() - start
  start = time.perf_counter()
  materialize_job.run_materialize(str(out / "sel"), str(out / "cur"), pipeline_args=beam_args, show_progress=False)
  seconds["materialize"] = time.perf_counter() - start
  return seconds


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--examples", type=int, default=300)
  parser.add_argument("--workers", type=int, default=3)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp_dir:
    tmp = pathlib.Path(tmp_dir)
    writer.write_sample(tmp / "raw", args.examples, seed=5, shard_size=100,
                        rates={"near_dup": 0.1, "exact_dup": 0.05})
    # The same output paths for both (summaries record them): the first run's files move aside.
    local = run_jobs(tmp / "raw", tmp / "out", ["--direct_num_workers=1"])
    (tmp / "out").rename(tmp / "fnapi")
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
      dask = run_jobs(tmp / "raw", tmp / "out", [RUNNER, f"--dask_client_address={cluster.scheduler_address}"])
    a, b = digests(tmp / "fnapi"), digests(tmp / "out")
  same = a == b
  print(f"{args.examples} examples; dask.distributed LocalCluster of {args.workers} worker processes vs FnApiRunner")
  for job in local:
    print(f"  {job:<12} FnApiRunner {local[job]:6.1f}s   Dask {dask[job]:6.1f}s")
  print(f"output files: {len(a)} vs {len(b)}; byte-identical: {same}")
  if not same:
    print(json.dumps({k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}, indent=1))
  return 0 if same else 1


if __name__ == "__main__":
  sys.exit(main())
