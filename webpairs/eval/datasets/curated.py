"""Held-out curated shards as an eval set: images, captions and the `regions` of each example's json member.

`root` is what the trainer's `input.shards` takes: a folder of shard-NNNNN.tar files, a
glob, or a comma-separated list of them (local or object store). Images decode as the
trainer's eval input does (whole picture, plain resize to a square), so normalised
region boxes hold for them unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from webpairs.formats import curated as curated_shards


@dataclasses.dataclass(frozen=True, eq=False)
class CuratedSet:
  """Examples `index` of a CuratedSource, each one image with one caption (text_image[j] = j)."""

  name: str
  root: str
  source: Any  # webpairs.pretrain.input.CuratedSource, imported lazily (it brings JAX)
  index: np.ndarray  # rows of `source`
  captions: tuple[str, ...]
  text_lang: tuple[str, ...]
  regions: tuple[tuple[dict, ...], ...]  # [{text, box [ymin, xmin, ymax, xmax] in [0, 1]}] per example

  def __len__(self) -> int:
    return len(self.index)

  @property
  def text_image(self) -> np.ndarray:
    return np.arange(len(self), dtype=np.int64)

  def languages(self) -> list[str]:
    return sorted(set(self.text_lang))

  def subset(self, idx: Sequence[int] | np.ndarray) -> CuratedSet:
    idx = [int(i) for i in idx]
    return dataclasses.replace(self, index=self.index[idx], captions=tuple(self.captions[i] for i in idx),
                               text_lang=tuple(self.text_lang[i] for i in idx),
                               regions=tuple(self.regions[i] for i in idx))

  def image_batches(self, size: int, batch_size: int) -> Iterator[np.ndarray]:
    """uint8 [B, size, size, 3] batches in order; the last one may be short."""
    from webpairs.pretrain.input import preprocess  # pylint: disable=import-outside-toplevel
    for start in range(0, len(self), batch_size):
      rows = self.index[start:start + batch_size]
      yield np.stack([preprocess.decode_image(self.source[int(i)]["image"], size) for i in rows])


def _members(source: Any, offsets: np.ndarray, sizes: np.ndarray) -> list[bytes | None]:
  """The bytes at (offset, size) of each example's shard; None where the member is absent (offset -1)."""
  reader = curated_shards.MemberReader(source.paths)
  return [reader.read(int(shard), int(offset), int(size)) if offset >= 0 else None
          for shard, offset, size in zip(source.shard, offsets, sizes, strict=True)]


def load(root: str) -> CuratedSet:
  """Every example of the shards (`webpairs pretrain`'s reader: those without an image or a caption are skipped)."""
  from webpairs.pretrain.input import source as source_lib  # pylint: disable=import-outside-toplevel
  paths = curated_shards.expand(root)  # raises when nothing matches
  source = source_lib.CuratedSource.from_paths(paths)
  if not len(source):
    raise ValueError(f"the shards matching {root} hold no examples")
  texts = _members(source, source.text_offset, source.text_size)
  metas = [json.loads(m) if m else {} for m in _members(source, source.json_offset, source.json_size)]
  captions = tuple(t.decode("utf-8", "replace") if t is not None else str(m.get("caption") or "")
                   for t, m in zip(texts, metas, strict=True))
  return CuratedSet(name=f"curated:{root}", root=root, source=source, index=np.arange(len(source)),
                    captions=captions, text_lang=tuple(str(m.get("lang") or "") for m in metas),
                    regions=tuple(tuple(m.get("regions") or ()) for m in metas))
