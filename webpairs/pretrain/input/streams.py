"""The global batch as a fixed number of input streams split over the processes; every stream's position goes into the checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grain
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding

from webpairs.pretrain.input.pipeline import DEVICE_KEYS, REGION_KEYS, DeviceIterator

FORMAT = "streams/1"


def stream_count(streams: int, process_count: int) -> int:
  """config.input.streams (0: one per process) -> the number of streams; each process must run a whole share."""
  n = process_count if not streams else int(streams)
  if n < 1 or n % process_count:
    raise ValueError(f"config.input.streams={streams} does not split over {process_count} processes: "
                     f"use a multiple of {process_count}")
  return n


def local_streams(streams: int, process_index: int, process_count: int) -> range:
  """The streams this process runs: a contiguous run, so the processes' local batches concatenate in stream order."""
  per = streams // process_count
  return range(process_index * per, (process_index + 1) * per)


class _LocalStreams:
  """This process's streams side by side: one host batch per step (numpy), positions as a list."""

  def __init__(self, its: list[Any]):
    self._its = its

  def __iter__(self) -> _LocalStreams:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    parts = [next(it) for it in self._its]
    keys = [k for k in (*DEVICE_KEYS, *REGION_KEYS) if k in parts[0]]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}

  def get_state(self) -> list[Any]:
    return [it.get_state() for it in self._its]

  def set_state(self, positions: list[Any]) -> None:
    for it, position in zip(self._its, positions, strict=True):
      it.set_state(position)

  def close(self) -> None:
    for it in self._its:
      it.close()


class StreamIterator:
  """This process's streams -> one global batch per step: local batches side by side, then
  make_array_from_process_local_data over the mesh (the processes' shares in device order).

  Stream s reads the s-th share of the shards, so a run's data depends on the number of
  streams only, never on how many processes run them: a run may resume on another number
  of processes that divides the streams. Batches reach the devices through DeviceIterator's
  prefetch thread, so the host->device copy overlaps the step before; positions are those of
  what the caller consumed.
  """

  def __init__(self, make: Callable[[int], grain.IterDataset], sharding: NamedSharding, streams: int,
               process_index: int | None = None, process_count: int | None = None, prefetch: int = 2):
    self.sharding = sharding
    self.process_index = jax.process_index() if process_index is None else process_index
    self.process_count = jax.process_count() if process_count is None else process_count
    self.streams = streams
    self.local = local_streams(streams, self.process_index, self.process_count)
    self._device = DeviceIterator(_LocalStreams([iter(make(s)) for s in self.local]), sharding, prefetch)

  def __iter__(self) -> StreamIterator:
    return self

  def __next__(self) -> dict[str, jax.Array]:
    return next(self._device)

  def get_state(self) -> dict[str, Any]:
    """The position of every stream of every process (gathered: each process saves the same JSON)."""
    mine = self._device.get_state()
    every = _allgather_json(mine) if self.process_count > 1 else [mine]
    return {"format": FORMAT, "streams": self.streams, "positions": [s for proc in every for s in proc]}

  def set_state(self, state: dict[str, Any]) -> None:
    if state.get("format") != FORMAT:
      # A checkpoint from before streams: one process's bare iterator state.
      if self.streams != 1:
        raise ValueError(f"the checkpoint holds the data position of one input stream; this run has {self.streams}")
      state = {"streams": 1, "positions": [state]}
    if int(state["streams"]) != self.streams:
      raise ValueError(
          f"the checkpoint holds the data positions of {state['streams']} input stream(s); this run has "
          f"{self.streams} ({self.process_count} process(es), config.input.streams=0 meaning one per process). "
          f"Resume with --config.input.streams={state['streams']} on a number of processes that divides it")
    self._device.set_state([state["positions"][s] for s in self.local])

  def close(self) -> None:
    """Stops the prefetch thread and grain's worker processes."""
    self._device.close()


def _allgather_json(obj: Any) -> list[Any]:
  """obj of every process, in process order (JSON through two process_allgathers: lengths, then padded bytes)."""
  raw = np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), np.uint8)
  sizes = np.asarray(multihost_utils.process_allgather(np.asarray([raw.size], np.int64))).reshape(-1)
  padded = np.zeros(int(sizes.max()), np.uint8)
  padded[:raw.size] = raw
  every = np.asarray(multihost_utils.process_allgather(padded)).reshape(len(sizes), -1)
  return [json.loads(bytes(row[:n]).decode("utf-8")) for row, n in zip(every, sizes.tolist(), strict=True)]

