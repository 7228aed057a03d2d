"""Where select's driver memory goes on the local FnApiRunner: live buffers and RSS after every stage.

FnApiRunner shuffles in its driver process. After each bundle this script adds up the
buffers the runner still holds (stage outputs queued for their consumers, encoded; the
GroupByKey tables, decoded, measured by walking their numpy arrays, tuples and strings)
and samples the driver's RSS every 20 ms. It prints the largest live set with its buffers
in bytes per input row, and the stages with the highest RSS. Tables come from
benchmarks/web_tables.py, written by a separate process; select runs in this one.

  .venv/bin/python benchmarks/select_memory.py --rows 1000000 [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apache_beam.runners.portability.fn_api_runner import execution  # noqa: E402  pylint: disable=wrong-import-position

from webpairs.configs.curation import load_curation_config  # noqa: E402  pylint: disable=wrong-import-position
from webpairs.pipelines.runtime import options  # noqa: E402  pylint: disable=wrong-import-position
from webpairs.pipelines.select import select  # noqa: E402  pylint: disable=wrong-import-position


def deep_size(o, seen: set) -> int:
  """Bytes of a decoded value: numpy arrays, containers and scalars, each object once."""
  if id(o) in seen:
    return 0
  seen.add(id(o))
  if isinstance(o, np.ndarray):
    n = sys.getsizeof(o) if o.base is None else o.nbytes + 112
    return n + (sum(deep_size(x, seen) for x in o.ravel().tolist()) if o.dtype == object else 0)
  if isinstance(o, (tuple, list)):
    return sys.getsizeof(o) + sum(deep_size(x, seen) for x in o)
  if isinstance(o, dict):
    return sys.getsizeof(o) + sum(deep_size(k, seen) + deep_size(v, seen) for k, v in o.items())
  if hasattr(o, "__slots__"):
    return sys.getsizeof(o) + sum(deep_size(getattr(o, s), seen) for s in o.__slots__)
  return sys.getsizeof(o)


def buffer_bytes(buf) -> tuple[str, int]:
  # pylint: disable=protected-access
  if isinstance(buf, execution.ListBuffer):
    return "encoded", sum(len(b) for b in buf._inputs)
  if isinstance(buf, execution.GroupingBuffer):
    seen: set = set()
    return "decoded", sum(len(k) + deep_size(v, seen) for k, v in buf._table.items())
  return type(buf).__name__, 0


def _short(stage: str) -> str:
  """A fused stage's first transform."""
  return stage.strip("(").split(")")[0][:90]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", type=int, default=1_000_000)
  parser.add_argument("--workers", type=int, default=2)
  args = parser.parse_args()
  proc = psutil.Process()
  peak = [0]

  def sample():
    while True:
      peak[0] = max(peak[0], proc.memory_info().rss)
      time.sleep(0.02)

  threading.Thread(target=sample, daemon=True).start()
  log = []
  beam_execute = options._FnApiRunner._execute_bundle  # pylint: disable=protected-access

  def execute(self, ctx, bundle_context_manager, bundle_input):
    peak[0] = proc.memory_info().rss
    out = beam_execute(self, ctx, bundle_context_manager, bundle_input)
    live = {}
    for queue in (ctx.queues.ready_inputs, ctx.queues.watermark_pending_inputs):
      for key, data_input in list(queue._q):  # pylint: disable=protected-access
        for pcoll, buf in data_input.data.items():
          kind, n = buffer_bytes(buf)
          live[f"{pcoll} -> {_short(key[0] if isinstance(key, tuple) else key)} ({kind})"] = n
    for buffer_id, buf in ctx.pcoll_buffers.items():
      kind, n = buffer_bytes(buf)
      live[f"{buffer_id} ({kind})"] = n
    log.append((bundle_context_manager.stage.name, proc.memory_info().rss, peak[0], live))
    return out

  options._FnApiRunner._execute_bundle = execute  # pylint: disable=protected-access
  with tempfile.TemporaryDirectory() as tmp:
    rows = args.rows
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'benchmarks'); import web_tables; "
                    f"t = web_tables.WebTables({rows}, seed={rows} % 9973); t.write('{tmp}/ann'); "
                    f"t.write_eval_index('{tmp}/eval.parquet')"], check=True, cwd=ROOT)
    config = load_curation_config("en90")
    config.eval.indexes = (f"{tmp}/eval.parquet",)
    base = proc.memory_info().rss
    start = time.perf_counter()
    select.run_select(f"{tmp}/ann", config, f"{tmp}/sel", [f"--direct_num_workers={args.workers}",
                                                           "--direct_running_mode=multi_processing"],
                      show_progress=False, overwrite=True)
    seconds = time.perf_counter() - start
  print(f"select of {rows:,} rows: {seconds:.1f} s; driver RSS {base / 2**20:.0f} MB before the pipeline, peak "
        f"{max(p for _, _, p, _ in log) / 2**20:.0f} MB")
  stage, rss, _, live = max(log, key=lambda e: sum(e[3].values()))
  print(f"largest live set: {sum(live.values()) / 2**20:.0f} MB ({sum(live.values()) / rows:.1f} B/row) after "
        f"{_short(stage)}, driver RSS {rss / 2**20:.0f} MB:")
  for name, n in sorted(live.items(), key=lambda kv: -kv[1])[:8]:
    print(f"  {n / rows:7.1f} B/row  {name}")
  print("highest driver RSS while a stage ran (MB: peak, after; live buffers after):")
  for stage, rss, p, live in sorted(log, key=lambda e: -e[2])[:6]:
    print(f"  {p / 2**20:6.0f} {rss / 2**20:6.0f} {sum(live.values()) / 2**20:7.0f}  {_short(stage)}")


if __name__ == "__main__":
  main()
