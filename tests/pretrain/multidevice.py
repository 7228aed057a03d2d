"""Run a check in a fresh interpreter with N fake CPU devices (XLA reads the flag when the backend starts)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def run_with_devices(devices: int, code: str, timeout: int = 240) -> str:
  """Runs `code` with XLA_FLAGS forcing `devices` host devices; fails the test with its output if it fails."""
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
  env.pop("JAX_PLATFORMS", None)
  prelude = f"import jax\nassert jax.device_count() == {devices}, jax.devices()\n"
  proc = subprocess.run([sys.executable, "-c", prelude + code], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=timeout)
  if proc.returncode:
    raise AssertionError(f"check on {devices} devices failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
  return proc.stdout
