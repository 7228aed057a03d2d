"""The training input: this host's curated shards -> shuffled, decoded, tokenised batches on the mesh, with a checkpointable position."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

import grain
import jax
import numpy as np
from jax.sharding import NamedSharding

from webpairs.formats import curated
from webpairs.pretrain.input import regions as regions_lib
from webpairs.pretrain.input.preprocess import DecodeImage, TokenizeBatch, collate
from webpairs.pretrain.input.source import CuratedSource
from webpairs.tokenizers import Tokenizer

_log = logging.getLogger(__name__)
DEVICE_KEYS = ("image", "text")
# Moved to the devices too when the batch has them (config.input.regions).
REGION_KEYS = regions_lib.FIELDS


def _allow_grain_workers() -> None:
  # grain reads absl flags in its worker processes; a program that never ran absl.app
  # (ours: argparse) must mark them parsed or the first worker fails on flag access.
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


def auto_workers(reserve: int = 2) -> int:
  """Decode processes for this host: its usable CPU cores less `reserve` (the training loop, the device feed)."""
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
  return max(1, cores - reserve)


def host_shards(paths: Sequence[str], process_index: int, process_count: int) -> list[str]:
  """This host's share of the shards: every process_count-th, starting at process_index.

  Whole shards go to one host, so hosts never read the same bytes; every host needs at
  least one shard.
  """
  if len(paths) < process_count:
    raise ValueError(f"{len(paths)} shard(s) cannot be split over {process_count} hosts: write more shards")
  return list(paths[process_index::process_count])


def make_source(shards: str, process_index: int | None = None, process_count: int | None = None, *,
                regions: bool = False) -> CuratedSource:
  """Index this host's share of the shards matching `shards` (comma-separated globs or folders).

  regions: the source also returns each example's region annotations (LocCa)."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  paths = host_shards(curated.expand(shards), process_index, process_count)
  source = CuratedSource.from_paths(paths, regions=regions)
  if source.skipped:
    _log.warning("%d example(s) in %s lack an image or a caption and are skipped", source.skipped, shards)
  if not len(source):
    raise ValueError(f"the shards matching {shards} hold no examples for host {process_index}")
  return source


def make_dataset(
    source: CuratedSource,
    *,
    batch_size: int,
    image_size: int,
    max_len: int,
    tokenizer: Tokenizer,
    seed: int = 0,
    train: bool = True,
    augment: str = "none",
    min_area: float = 0.5,
    lower: bool = False,
    num_workers: int = 0,
    keep_captions: bool = False,
    regions: regions_lib.RegionOptions | None = None,
) -> grain.IterDataset:
  """Batches of {"image": uint8 [b, S, S, 3], "text": int32 [b, L]} for this host.

  regions (needs a source made with regions=True): each example's regions follow its crop
  and every batch also holds LocCa's aref/gcap tokens and weights [b, regions.max_len],
  one region per example drawn with (seed, the batch's keys).

  train: shuffled with `seed` (a new order each epoch), repeated forever, full batches only.
  Otherwise one pass in shard order with a final partial batch. Decode, augment, batching
  and tokenisation run in `num_workers` processes (0: in this process; < 0: auto_workers()).
  The order depends on the seed and on num_workers, so a resumed run must keep both.
  """
  if num_workers < 0:
    num_workers = auto_workers()
  if regions is not None and not source.regions:
    raise ValueError("region tasks need a source that reads regions: make_source(..., regions=True)")
  ds = grain.MapDataset.source(source)
  if train:
    ds = ds.shuffle(seed=seed).repeat(None)
  # random_map: each example's crop is drawn from (seed, position), so restarts repeat it.
  min_visible = regions.min_visible if regions is not None else 0.5
  ds = ds.random_map(DecodeImage(image_size, augment if train else "none", min_area, min_visible), seed=seed)
  it = ds.to_iter_dataset()  # drops the Nones of images that fail to decode
  it = it.batch(batch_size, drop_remainder=train, batch_fn=collate)
  if regions is not None:
    it = it.map(regions_lib.RegionTasks(tokenizer, regions, seed))
  it = it.map(TokenizeBatch(tokenizer, max_len, lower=lower, keep_captions=keep_captions))
  if num_workers > 0:
    _allow_grain_workers()
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers, per_worker_buffer_size=2))
  return it


class _Raised:
  """An exception of the prefetch thread (StopIteration included), re-raised by __next__."""

  def __init__(self, exc: BaseException):
    self.exc = exc


class DeviceIterator:
  """Host batches -> global jax.Arrays sharded on the batch axis; get_state/set_state give the data position.

  prefetch > 0: a thread keeps that many batches already on the devices, so the host->device
  copy overlaps the step before. Each batch travels with the data position after it, so
  get_state is the position of what the caller consumed, not of what was prefetched.
  """

  def __init__(self, dataset: grain.IterDataset, sharding: NamedSharding, prefetch: int = 2):
    self.sharding = sharding
    self.prefetch = prefetch
    self._it = iter(dataset)
    self._queue: queue.Queue | None = None
    self._thread: threading.Thread | None = None
    self._stop = threading.Event()
    self._state: dict[str, Any] | None = None

  def __iter__(self) -> DeviceIterator:
    return self

  def _to_device(self, batch: dict[str, Any]) -> dict[str, jax.Array]:
    keys = [k for k in (*DEVICE_KEYS, *REGION_KEYS) if k in batch]
    return {k: jax.make_array_from_process_local_data(self.sharding, np.asarray(batch[k])) for k in keys}

  def _offer(self, item: Any) -> bool:
    while not self._stop.is_set():
      try:
        self._queue.put(item, timeout=0.1)
        return True
      except queue.Full:
        continue
    return False

  def _fill(self) -> None:
    try:
      while not self._stop.is_set():
        item = (self._to_device(next(self._it)), self._it.get_state())
        if not self._offer(item):
          return
    except BaseException as e:  # pylint: disable=broad-except  # handed to the consumer, raised there
      self._offer(_Raised(e))

  def __next__(self) -> dict[str, jax.Array]:
    if self.prefetch <= 0:
      return self._to_device(next(self._it))
    if self._thread is None:
      self._state = self._it.get_state()
      self._stop.clear()
      self._queue = queue.Queue(maxsize=self.prefetch)
      self._thread = threading.Thread(target=self._fill, name="device-prefetch", daemon=True)
      self._thread.start()
    item = self._queue.get()
    if isinstance(item, _Raised):
      raise item.exc
    batch, self._state = item
    return batch

  def _stop_prefetch(self) -> None:
    if self._thread is not None:
      self._stop.set()
      self._thread.join()
      self._thread = self._queue = None

  def get_state(self) -> dict[str, Any]:
    return self._it.get_state() if self._thread is None else self._state

  def set_state(self, state: dict[str, Any]) -> None:
    self._stop_prefetch()  # what it holds belongs to the old position
    self._it.set_state(state)

  def close(self) -> None:
    """Stops the prefetch thread and grain's worker processes, freeing their shared memory."""
    self._stop_prefetch()
    self._it.close()
