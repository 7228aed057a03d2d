"""XLA GPU flags that JAX's and NVIDIA's performance guides document as safe, added to XLA_FLAGS before JAX starts."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# JAX "GPU performance tips" and NVIDIA JAX-Toolbox's defaults: the latency-hiding scheduler (overlaps
# collectives with compute; harmless on one GPU) and cuBLAS instead of Triton for matmuls. Neither changes
# numerics beyond matmul algorithm choice; both are ignored on CPU and TPU.
GPU_FLAGS: tuple[str, ...] = (
    "--xla_gpu_enable_latency_hiding_scheduler=true",
    "--xla_gpu_enable_triton_gemm=false",
)
DEFAULT = False  # on by default only where measured faster (README, GPU table)


def apply(enabled: bool | None = None, environ: MutableMapping[str, str] | None = None) -> str:
  """Appends GPU_FLAGS that XLA_FLAGS does not already set (a flag the user set keeps its value); returns XLA_FLAGS.

  Takes effect only if called before JAX initialises its backend (before the first jax.devices()).
  """
  environ = os.environ if environ is None else environ
  flags = environ.get("XLA_FLAGS", "").split()
  if DEFAULT if enabled is None else enabled:
    set_names = {f.split("=")[0] for f in flags}
    flags += [f for f in GPU_FLAGS if f.split("=")[0] not in set_names]
  value = " ".join(flags)
  if value:
    environ["XLA_FLAGS"] = value
  return value
