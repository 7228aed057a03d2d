"""What every evaluator shares: its config keys, the dataset it reads, and a deterministic subsample."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval import datasets, embed, metrics

# Keys every evaluator config may hold; the rest are the evaluator's own.
COMMON_KEYS = ("type", "dataset", "data_dir", "loader", "every_steps", "batch_size", "max_examples", "seed")


@dataclasses.dataclass(frozen=True)
class Common:
  """dataset: a loader name; data_dir: its folder (relative to the data root unless absolute); loader: its kwargs.

  every_steps: how often the trainer runs it (0: only at the end and standalone);
  max_examples: a fixed random subset (by `seed`) for cheap in-training evals.
  """

  type: str
  dataset: str
  data_dir: str
  loader: Mapping[str, Any]
  every_steps: int
  batch_size: int
  max_examples: int | None
  seed: int

  @classmethod
  def parse(cls, config: Mapping[str, Any]) -> "Common":
    if "type" not in config or "dataset" not in config:
      raise ValueError(f"an eval config needs 'type' and 'dataset', got keys {sorted(config)}")
    max_examples = config.get("max_examples")
    return cls(type=str(config["type"]), dataset=str(config["dataset"]),
               data_dir=str(config.get("data_dir") or config["dataset"]), loader=dict(config.get("loader") or {}),
               every_steps=int(config.get("every_steps") or 0), batch_size=int(config.get("batch_size") or 64),
               max_examples=int(max_examples) if max_examples else None, seed=int(config.get("seed") or 0))

  def root(self, data_root: str) -> str:
    # An object-store path (gs://...: held-out curated shards) is absolute too.
    absolute = os.path.isabs(self.data_dir) or "://" in self.data_dir
    return self.data_dir if absolute else os.path.join(data_root, self.data_dir)

  def load(self, data_root: str, cache: dict | None = None) -> Any:
    """The dataset (loaded once per (name, folder, loader kwargs) when a cache dict is given), subsampled."""
    key = (self.dataset, os.path.abspath(self.root(data_root)), repr(sorted(self.loader.items())))
    if cache is not None and key in cache:
      ds = cache[key]
    else:
      ds = datasets.load(self.dataset, self.root(data_root), **self.loader)
      if cache is not None:
        cache[key] = ds
    return subsample(ds, self.max_examples, self.seed)


def subsample(ds: Any, max_examples: int | None, seed: int) -> Any:
  """At most max_examples images, the same ones for a seed; order kept."""
  if max_examples is None or len(ds) <= max_examples:
    return ds
  idx = np.sort(np.random.default_rng(seed).choice(len(ds), max_examples, replace=False))
  return ds.subset(idx)


def image_source(ds: Any) -> Any:
  """What embed's functions take for the set's images: the set itself when it decodes them (a curated set), or
  its files."""
  return ds if hasattr(ds, "image_batches") else ds.files()


def image_batches(ds: Any, size: int, batch_size: int) -> Iterator[np.ndarray]:
  """uint8 [B, size, size, 3] batches of the set's images in order: decoded from shards (a curated set) or files."""
  return embed.image_batches(image_source(ds), size, batch_size)


def unknown_keys(config: Mapping[str, Any], own: tuple[str, ...]) -> None:
  extra = sorted(set(config) - set(COMMON_KEYS) - set(own))
  if extra:
    raise ValueError(f"{config.get('type')} eval: unknown config keys {extra}; known: "
                     f"{', '.join(sorted(set(COMMON_KEYS) | set(own)))}")


def group_metrics(metric: str, values: np.ndarray, attributes: Mapping[str, tuple[str, ...]],
                  order: Mapping[str, list[str]]) -> list[tuple[str, float]]:
  """<metric>/<kind>/<group> per group (in report order), <metric>_disparity/<kind> (max - min), <metric>_worst/<kind>.

  values: one number per example (1/0 for right/wrong), averaged within each group.
  """
  out = []
  for kind, groups in attributes.items():
    by_group = metrics.accuracy_by_group(values, groups)
    if not by_group:
      continue
    for g in order.get(kind, sorted(by_group)):
      if g in by_group:
        out.append((f"{metric}/{kind}/{g}", by_group[g]))
    out.append((f"{metric}_disparity/{kind}", metrics.disparity(by_group)))
    out.append((f"{metric}_worst/{kind}", min(by_group.values())))
  return out
