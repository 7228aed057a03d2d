"""Progress lines for local runs: completed shard files counted from the driver process.

Workers write each shard's output atomically, so counting final files (and their row
counts from parquet footers) measures progress without touching the workers.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

import pyarrow.parquet as pq


class ShardProgress:
  """Prints `label: k/N shards, E examples, R ex/s` every `interval` seconds."""

  def __init__(self, label: str, final_paths: list[str], interval: float = 5.0, stream: TextIO | None = None):
    self._label = label
    self._paths = final_paths
    self._interval = interval
    self._stream = stream or sys.stderr
    self._rows: dict[str, int] = {}
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._loop, daemon=True)
    self._start = 0.0
    self._already = 0

  def _poll(self) -> None:
    for path in self._paths:
      if path not in self._rows and os.path.exists(path):
        try:
          self._rows[path] = pq.read_metadata(path).num_rows
        except Exception:  # pylint: disable=broad-except
          pass  # being renamed into place right now: next poll

  def start(self) -> None:
    self._poll()
    self._already = sum(self._rows.values())
    if self._rows:
      print(f"{self._label}: {len(self._rows)}/{len(self._paths)} shards already done, resuming",
            file=self._stream, flush=True)
    self._start = time.time()
    self._thread.start()

  def line(self) -> str:
    elapsed = max(time.time() - self._start, 1e-9)
    examples = sum(self._rows.values())
    rate = (examples - self._already) / elapsed
    return (f"{self._label}: {len(self._rows)}/{len(self._paths)} shards, {examples:,} examples, "
            f"{rate:,.0f} ex/s, {elapsed:,.0f}s")

  def _loop(self) -> None:
    while not self._stop.wait(self._interval):
      self._poll()
      print(self.line(), file=self._stream, flush=True)

  def stop(self) -> None:
    self._stop.set()
    self._thread.join()
    self._poll()
    print(self.line(), file=self._stream, flush=True)


def run_pipeline(pipeline, monitor: ShardProgress | None = None):
  """Runs `pipeline` to completion while `monitor` (if any) prints progress lines; returns its result."""
  if monitor:
    monitor.start()
  try:
    result = pipeline.run()
    result.wait_until_finish()
    return result
  finally:
    if monitor:
      monitor.stop()
