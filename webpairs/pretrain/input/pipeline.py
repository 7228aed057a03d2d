"""The training input: this host's curated shards -> shuffled, decoded, tokenised batches on the mesh, with a checkpointable position."""

from __future__ import annotations

import logging
from typing import Any

import grain
import jax
import numpy as np
from jax.sharding import NamedSharding

from webpairs.pretrain.input import files
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


def make_source(shards: str, process_index: int | None = None, process_count: int | None = None, *,
                regions: bool = False) -> CuratedSource:
  """Index this host's share of the shards matching `shards` (comma-separated globs or folders).

  regions: the source also returns each example's region annotations (LocCa)."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  paths = files.host_shards(files.expand(shards), process_index, process_count)
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
  and tokenisation run in `num_workers` processes (0: in this process). The order depends
  on the seed and on num_workers, so a resumed run must keep both.
  """
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


class DeviceIterator:
  """Host batches -> global jax.Arrays sharded on the batch axis; get_state/set_state give the data position."""

  def __init__(self, dataset: grain.IterDataset, sharding: NamedSharding):
    self.sharding = sharding
    self._it = iter(dataset)

  def __iter__(self) -> DeviceIterator:
    return self

  def __next__(self) -> dict[str, jax.Array]:
    batch = next(self._it)
    keys = [k for k in (*DEVICE_KEYS, *REGION_KEYS) if k in batch]
    return {k: jax.make_array_from_process_local_data(self.sharding, np.asarray(batch[k])) for k in keys}

  def get_state(self) -> dict[str, Any]:
    return self._it.get_state()

  def set_state(self, state: dict[str, Any]) -> None:
    self._it.set_state(state)

  def close(self) -> None:
    """Stops grain's worker processes and frees their shared memory."""
    self._it.close()
