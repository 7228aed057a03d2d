"""A grain random-access source over indexed curated shards: example i -> {key, image bytes, caption[, regions]}."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import numpy as np

from webpairs.formats.curated import MemberReader, ShardIndex, index_tar
from webpairs.pretrain.input.regions import RegionFaults, parse_regions

_INDEX_THREADS = 8  # header reads are I/O-bound: object stores want several in flight


class CuratedSource:
  """Examples of a list of webdataset shards, in shard then tar order.

  The index is a handful of numpy arrays (about 50 bytes per example) so it pickles
  cheaply into grain's worker processes; each process opens its own files lazily
  (formats.curated.MemberReader, safe for grain's reading threads).

  regions: also return each example's `regions` from its json member (one more read per
  example, made only then); an unreadable json or regions list gives [] and is counted
  in `region_faults` (per process) with a warning, never an error.
  """

  def __init__(self, shards: Sequence[ShardIndex], *, regions: bool = False):
    self.regions = regions
    self.region_faults = RegionFaults()
    self.paths = [s.path for s in shards]
    self.skipped = sum(s.skipped for s in shards)
    cat = lambda name: np.concatenate([getattr(s, name) for s in shards]) if shards else np.zeros(0, np.int64)
    self.shard = np.concatenate([np.full(len(s), k, np.int32) for k, s in enumerate(shards)]) if shards \
        else np.zeros(0, np.int32)
    self.keys = np.concatenate([s.keys for s in shards]) if shards else np.zeros(0, "S1")
    self.image_offset, self.image_size = cat("image_offset"), cat("image_size")
    self.text_offset, self.text_size = cat("text_offset"), cat("text_size")
    self.json_offset, self.json_size = cat("json_offset"), cat("json_size")
    self._reader = MemberReader(self.paths)

  @classmethod
  def from_paths(cls, paths: Sequence[str], *, regions: bool = False) -> CuratedSource:
    with futures.ThreadPoolExecutor(min(_INDEX_THREADS, max(1, len(paths)))) as pool:
      return cls(list(pool.map(index_tar, paths)), regions=regions)

  def __len__(self) -> int:
    return len(self.keys)

  def __getitem__(self, i: int) -> dict[str, Any]:
    i = int(i)
    shard = int(self.shard[i])
    key = self.keys[i].decode("utf-8")
    image = self._reader.read(shard, int(self.image_offset[i]), int(self.image_size[i]))
    raw = None
    if self.json_offset[i] >= 0 and (self.regions or self.text_offset[i] < 0):
      raw = self._reader.read(shard, int(self.json_offset[i]), int(self.json_size[i]))
    if self.text_offset[i] >= 0:
      caption = self._reader.read(shard, int(self.text_offset[i]), int(self.text_size[i])).decode("utf-8", "replace")
    else:
      caption = json.loads(raw).get("caption") or ""
    out = {"key": key, "image": image, "caption": caption}
    if self.regions:
      out["regions"], ok = parse_regions(raw)
      if not ok:
        self.region_faults.add(key)
    return out

  def __repr__(self) -> str:
    return f"CuratedSource({len(self.paths)} shards, {len(self)} examples)"
