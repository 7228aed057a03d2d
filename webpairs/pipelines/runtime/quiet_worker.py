"""Beam's SDK worker process for local multi-process runs, logging at webpairs' level (see logs.py)."""

from __future__ import annotations

import logging
import sys

from webpairs.pipelines.runtime import logs

COMMAND = f"{sys.executable} -m webpairs.pipelines.runtime.quiet_worker"


def main() -> None:
  # Installed before Beam is imported: its first root-logger call would otherwise add an INFO handler.
  logging.getLogger().addHandler(logs.worker_handler())
  from apache_beam.runners.worker import sdk_worker_main  # pylint: disable=import-outside-toplevel

  sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
  main()
