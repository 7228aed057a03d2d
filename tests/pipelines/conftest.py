"""Fixtures shared by the Beam job tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture()
def job_service():
  """Beam's local job service in its own process: the API Flink's and Dataflow's runners speak."""
  port = _free_port()
  proc = subprocess.Popen(
      [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(port)],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 60
  while time.time() < deadline:
    with socket.socket() as s:
      if s.connect_ex(("localhost", port)) == 0:
        break
    time.sleep(0.2)
  else:
    proc.kill()
    pytest.fail("local job service did not start")
  yield f"localhost:{port}"
  proc.terminate()
  proc.wait(timeout=30)
