"""Start `webpairs pretrain` as N local processes x D CPU devices (gloo, coordinator on 127.0.0.1), each bounded by a timeout."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import portpicker

from tests.conftest import ROOT


@dataclasses.dataclass
class Finished:
  returncode: int
  output: str  # stdout then stderr
  seconds: float


def _env(devices: int, extra: dict[str, str] | None = None) -> dict[str, str]:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
  env["PYTHONUNBUFFERED"] = "1"
  env.pop("JAX_PLATFORMS", None)
  env.update(extra or {})
  return env


def start(processes: int, devices: int, args: Sequence[str], *, log_dir: str, env: dict[str, str] | None = None,
          per_process: Sequence[Sequence[str]] | None = None) -> list[subprocess.Popen]:
  """Starts `webpairs pretrain ARGS` as `processes` processes (no multi-process flags for one);
  per_process[i]: more arguments for process i only."""
  port = portpicker.pick_unused_port()
  procs = []
  for i in range(processes):
    cmd = [sys.executable, "-m", "webpairs.cli", "pretrain", *args, *(per_process[i] if per_process else ())]
    if processes > 1:
      cmd += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes), "--process-id", str(i)]
    log = open(os.path.join(log_dir, f"process-{i}.log"), "w", encoding="utf-8")  # pylint: disable=consider-using-with
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=_env(devices, env), stdout=log, stderr=subprocess.STDOUT))
    log.close()
  return procs


def wait(procs: Sequence[subprocess.Popen], *, log_dir: str, timeout: float) -> list[Finished]:
  """Waits for every process; any still running after `timeout` seconds is killed (and the test fails on it)."""
  t0 = time.monotonic()
  out = []
  for i, p in enumerate(procs):
    try:
      p.wait(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
      for q in procs:
        if q.poll() is None:
          q.kill()
          q.wait()
    with open(os.path.join(log_dir, f"process-{i}.log"), encoding="utf-8") as f:
      out.append(Finished(p.returncode, f.read(), time.monotonic() - t0))
  return out


def run(processes: int, devices: int, args: Sequence[str], *, log_dir: str, timeout: float = 300,
        env: dict[str, str] | None = None) -> list[Finished]:
  """Runs to the end; fails with every process's output unless all exit 0."""
  os.makedirs(log_dir, exist_ok=True)
  done = wait(start(processes, devices, args, log_dir=log_dir, env=env), log_dir=log_dir, timeout=timeout)
  if any(f.returncode for f in done):
    raise AssertionError("\n".join(f"--- process {i} (exit {f.returncode}):\n{f.output[-4000:]}"
                                   for i, f in enumerate(done)))
  return done


def kill_when(procs: Sequence[subprocess.Popen], ready: Callable[[], bool], victims: Sequence[int], *,
              timeout: float) -> None:
  """SIGKILLs processes `victims` as soon as ready() holds (polled); fails if it never does within timeout."""
  t0 = time.monotonic()
  while not ready():
    if time.monotonic() - t0 > timeout or any(p.poll() is not None for p in procs):
      for p in procs:
        if p.poll() is None:
          p.kill()
          p.wait()
      raise AssertionError("the run ended or timed out before the kill point")
    time.sleep(0.05)
  for v in victims:
    procs[v].send_signal(signal.SIGKILL)
