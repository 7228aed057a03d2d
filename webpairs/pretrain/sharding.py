"""The device mesh (a `data` axis), batch sharding, and parameter placement: replicated or FSDP over the data axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA = "data"
STRATEGIES = ("replicate", "fsdp")
FSDP_MIN_SIZE = 2**14  # smaller arrays stay replicated: splitting them costs more than it saves


def make_mesh(data: int = -1, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-d mesh over `data` devices (-1: all of them)."""
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices) if data in (-1, None) else int(data)
  if not 0 < n <= len(devices):
    raise ValueError(f"mesh wants {data} devices, {len(devices)} available")
  return Mesh(np.asarray(devices[:n]), (DATA,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _fsdp_spec(shape: Sequence[int], size: int, min_size: int) -> P:
  if size == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
    return P()
  # The largest dimension that splits evenly; ties go to the last (usually the output features).
  best = None
  for axis, dim in enumerate(shape):
    if dim % size == 0 and (best is None or dim >= shape[best]):
      best = axis
  if best is None:
    return P()
  spec: list[Any] = [None] * len(shape)
  spec[best] = DATA
  return P(*spec)


def state_shardings(abstract: Any, mesh: Mesh, strategy: str = "replicate", min_size: int = FSDP_MIN_SIZE) -> Any:
  """A NamedSharding per leaf of `abstract` (arrays or ShapeDtypeStructs)."""
  if strategy not in STRATEGIES:
    raise ValueError(f"sharding must be one of {STRATEGIES}, got {strategy!r}")
  size = mesh.shape[DATA]

  def one(leaf: Any) -> NamedSharding:
    shape = getattr(leaf, "shape", ())
    spec = _fsdp_spec(shape, size, min_size) if strategy == "fsdp" else P()
    return NamedSharding(mesh, spec)

  return jax.tree.map(one, abstract)
