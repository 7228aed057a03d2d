"""Select's output with the local runner's shuffle spilled to disk vs held in memory: byte for byte.

Writes one benchmarks/web_tables.py table, runs `select` (en90 + the eval index, dedup.windows
on) on it twice on the local FnApiRunner, each in a fresh process: with a tiny spill bound
(WEBPAIRS_SHUFFLE_MEMORY_MB, default 0.25: every GroupByKey spills, many times) and with
spilling off (0), then compares every output file. A spilled GroupByKey hands its keys to
the workers in another order; the selection must not depend on it.

  .venv/bin/python benchmarks/select_spill_identity.py [--rows 100000] [--spill-mb 0.25] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import select_scaling  # noqa: E402  pylint: disable=wrong-import-position
import web_tables  # noqa: E402  pylint: disable=wrong-import-position

from webpairs.pipelines.runtime import spill  # noqa: E402  pylint: disable=wrong-import-position


def _select(ann: pathlib.Path, index: str, out: pathlib.Path, spill_mb: str, workers: int) -> float:
  start = time.perf_counter()
  child = select_scaling._CHILD  # pylint: disable=protected-access
  subprocess.run([sys.executable, "-c", child, str(ann), "en90", str(out), index, "on",
                  f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"],
                 check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                 env=dict(os.environ, PYTHONPATH=str(ROOT), **{spill.MEMORY_ENV: spill_mb}))
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", type=int, default=100_000)
  parser.add_argument("--spill-mb", default="0.25")
  parser.add_argument("--workers", type=int, default=2)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp_dir:
    tmp = pathlib.Path(tmp_dir)
    tables = web_tables.WebTables(args.rows, seed=args.rows % 9973)
    tables.write(tmp / "ann")
    index = tables.write_eval_index(str(tmp / "eval.parquet"))
    seconds = {mb: _select(tmp / "ann", index, tmp / f"sel{mb}", mb, args.workers) for mb in (args.spill_mb, "0")}
    spilled, held = tmp / f"sel{args.spill_mb}", tmp / "sel0"
    names = sorted(str(p.relative_to(held)) for p in held.rglob("*") if p.is_file())
    other = sorted(str(p.relative_to(spilled)) for p in spilled.rglob("*") if p.is_file())
    differ = [n for n in names if n in other and (held / n).read_bytes() != (spilled / n).read_bytes()]
    print(f"select of {args.rows:,} rows, {args.workers} workers: spill bound {args.spill_mb} MB "
          f"{seconds[args.spill_mb]:.1f} s, spilling off {seconds['0']:.1f} s")
    print(f"{len(names)} files without spilling, {len(other)} with; same names: {names == other}; "
          f"byte-identical: {len(names) - len(differ)}, differing: {differ}")
    if names != other or differ:
      sys.exit(1)


if __name__ == "__main__":
  main()
