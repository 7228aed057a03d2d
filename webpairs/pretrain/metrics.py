"""Training metrics out: a progress line with ETA on stdout, W/metrics.jsonl, TensorBoard events; FLOPs and MFU."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import jax

from webpairs.pretrain.summary import EventWriter

# Dense bf16 peak FLOP/s per chip, by a substring of jax's device_kind. MFU is only
# reported for these; CPUs have no meaningful single peak.
PEAK_BF16_FLOPS: dict[str, float] = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v5": 459e12,
    "TPU v6 lite": 918e12,
    "TPU v6e": 918e12,
}


def peak_flops(device: jax.Device | None = None) -> float | None:
  kind = (device or jax.devices()[0]).device_kind
  for name, flops in PEAK_BF16_FLOPS.items():
    if name.lower() in kind.lower():
      return flops
  return None


def xla_flops_meaningful(device: jax.Device | None = None) -> bool:
  """XLA's cost analysis counts the FLOPs that run on CPU and TPU; on GPU it misses the cuBLAS/cuDNN custom calls
  (a B/16 step reads 0.04x of its matmuls), so there it is not reported."""
  return (device or jax.devices()[0]).platform != "gpu"


def mfu(model_flops_per_step: float | None, step_time_s: float, devices: int, peak: float | None) -> float | None:
  """Model FLOPs utilisation: the analytic FLOPs of a step over what `devices` chips at `peak` could do meanwhile."""
  if not model_flops_per_step or not peak or step_time_s <= 0:
    return None
  return model_flops_per_step / (devices * step_time_s * peak)


def compiled_flops(compiled: Any) -> float | None:
  """FLOPs of one call per device, from XLA's cost analysis of the partitioned program (None if unavailable)."""
  try:
    cost = compiled.cost_analysis()
  except Exception:  # pylint: disable=broad-except  # some backends do not implement it
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  flops = (cost or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  h, rest = divmod(seconds, 3600)
  m, s = divmod(rest, 60)
  return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def progress_line(step: int, total: int, metrics: Mapping[str, float], eta_s: float, width: int = 20) -> str:
  done = min(1.0, step / max(total, 1))
  bar = "#" * int(done * width) + "." * (width - int(done * width))
  parts = [f"[{bar}] step {step}/{total} ({100 * done:.0f}%)"]
  for key, fmt in (("loss", "loss {:.4f}"), ("lr", "lr {:.2e}"), ("t", "t {:.2f}"), ("b", "b {:.2f}"),
                   ("examples_per_s", "{:.0f} ex/s"), ("step_time_s", "{:.3f} s/step"),
                   ("model_flops_per_step", "{:.3g} FLOP/step"), ("mfu", "MFU {:.1%}"),
                   ("input_wait_frac", "input wait {:.0%}")):
    if key in metrics:
      parts.append(fmt.format(metrics[key]))
  parts.append(f"ETA {format_duration(eta_s)}")
  return " | ".join(parts)


class MetricWriter:
  """One sink for every metric: JSONL and TensorBoard on process 0, progress lines on stdout."""

  def __init__(self, workdir: str, *, stream: TextIO | None = None, enabled: bool | None = None):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.stream = stream or sys.stdout
    self.jsonl_path = os.path.join(workdir, "metrics.jsonl")
    self._jsonl = self._events = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
      self._events = EventWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in metrics.items()}
    self._jsonl.write(json.dumps({"step": step, **clean}) + "\n")
    self._jsonl.flush()
    self._events.scalars(step, clean)
    self._events.flush()

  def print(self, line: str) -> None:
    if self.enabled:
      print(line, file=self.stream, flush=True)

  def close(self) -> None:
    if self._jsonl is not None:
      self._jsonl.close()
      self._events.close()
