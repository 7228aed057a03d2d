"""Beam's SDK worker process for local multi-process runs, logging at webpairs' level (see logs.py).

It also bounds the worker's data channel queues as the driver's are (options.DATA_QUEUE_BYTES;
Beam lets each of a worker's two send queues and its receive queue hold 100 MB) and, on glibc,
lets its threads share 2 malloc heaps (glibc's default: up to 8 per core, each keeping the
holes its thread's numpy arrays left; select's workers peaked about 100 MB lower at 1e6 rows).
"""

from __future__ import annotations

import ctypes
import logging
import sys

from webpairs.pipelines.runtime import logs

COMMAND = f"{sys.executable} -m webpairs.pipelines.runtime.quiet_worker"
# The bytes each of a worker's data channel queues may hold (Beam: 100 MB).
DATA_QUEUE_BYTES = 8 << 20


def bound_data_queues() -> None:
  """Sets Beam's data channel queue bound (read when a channel is made) to DATA_QUEUE_BYTES."""
  from apache_beam.runners.worker import data_plane  # pylint: disable=import-outside-toplevel

  data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = DATA_QUEUE_BYTES  # pylint: disable=protected-access


_M_ARENA_MAX = -8  # glibc mallopt parameter


def share_malloc_heaps() -> None:
  """glibc: at most 2 malloc arenas for the process's threads (set before any thread starts; else a no-op)."""
  try:
    libc = ctypes.CDLL("libc.so.6")
  except OSError:  # not glibc
    return
  libc.mallopt(_M_ARENA_MAX, 2)


def _drop_finished_processors() -> None:
  """A bundle's processor is shut down when the bundle ends, not cached for its stage, and freed heap pages go back.

  Beam keeps each stage's BundleProcessor (its operations and DoFns) for reuse until it has been
  idle 60 s; the local runner runs each stage once per worker, one after another, so a run of
  many short stages (select's component rounds) kept them all: select's workers grew by about
  24 MB a stage through the rounds at 1e7 rows. The next bundle of a stage gets a new processor.
  """
  from apache_beam.runners.worker import sdk_worker  # pylint: disable=import-outside-toplevel

  cache_cls = sdk_worker.BundleProcessorCache
  if getattr(cache_cls.release, "_webpairs", False):
    return
  beam_release = cache_cls.release
  try:
    trim = ctypes.CDLL("libc.so.6").malloc_trim
  except (OSError, AttributeError):  # not glibc
    trim = None

  def release(self, instruction_id):
    with self._lock:  # pylint: disable=protected-access
      descriptor_id = self.active_bundle_processors[instruction_id][0]
    beam_release(self, instruction_id)
    cache_cls._shutdown_cached_bundle_processors(self.cached_bundle_processors[descriptor_id])  # pylint: disable=protected-access
    if trim is not None:
      trim(0)

  release._webpairs = True  # pylint: disable=protected-access
  cache_cls.release = release


def main() -> None:
  share_malloc_heaps()
  # Installed before Beam is imported: its first root-logger call would otherwise add an INFO handler.
  logging.getLogger().addHandler(logs.worker_handler())
  from apache_beam.runners.worker import sdk_worker_main  # pylint: disable=import-outside-toplevel

  bound_data_queues()
  _drop_finished_processors()
  sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
  main()
