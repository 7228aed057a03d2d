"""Evaluation sets as loaders return them: labelled images (classification) and captioned images (retrieval)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np

_SHOW_MISSING = 5


class MissingImagesError(FileNotFoundError):
  """Images named by the metadata are not on disk; raised once, with the count and the first few paths."""


def check_images(name: str, root: str, paths: Sequence[str]) -> None:
  """Raises MissingImagesError when any of root/paths is not a file: evals never skip images silently."""
  missing = [p for p in paths if not os.path.isfile(os.path.join(root, p))]
  if missing:
    shown = ", ".join(missing[:_SHOW_MISSING]) + (", ..." if len(missing) > _SHOW_MISSING else "")
    raise MissingImagesError(
        f"{name}: {len(missing)} of {len(paths)} images are missing under {root} (first: {shown}); "
        "download them there or point the loader at the folder that holds them")


def pretty_name(name: str) -> str:
  """'cooking_pots' -> 'cooking pots': the words a caption would use."""
  return " ".join(name.replace("_", " ").split())


class _ImageFiles:
  """What every eval set has: `name`, a `root` folder and image `paths` relative to it."""

  name: str
  root: str
  paths: tuple[str, ...]

  def __len__(self) -> int:
    return len(self.paths)

  def files(self) -> list[str]:
    return [os.path.join(self.root, p) for p in self.paths]

  def check_images(self) -> None:
    check_images(self.name, self.root, self.paths)


@dataclasses.dataclass(frozen=True)
class ClassificationSet(_ImageFiles):
  """Images with one or more acceptable classes each, and per-example group attributes.

  classnames[c] lists the names of class c (aliases; zero-shot averages over them).
  attributes maps a group kind (income, region, country, language) to one value per
  example; group_order gives a kind's values in the order reports show them (income
  buckets low to high). When `partition` names an attribute, an example competes only
  among the classes whose class_partition equals its value (MaRVL: its own language).
  """

  name: str
  root: str
  paths: tuple[str, ...]
  labels: tuple[frozenset[int], ...]
  classnames: tuple[tuple[str, ...], ...]
  attributes: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  group_order: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  partition: str | None = None
  class_partition: tuple[str, ...] | None = None

  def __post_init__(self):
    n = len(self.paths)
    if len(self.labels) != n:
      raise ValueError(f"{self.name}: {len(self.labels)} label sets for {n} images")
    for kind, values in self.attributes.items():
      if len(values) != n:
        raise ValueError(f"{self.name}: attribute {kind!r} has {len(values)} values for {n} images")
    num_classes = len(self.classnames)
    if any(not lab for lab in self.labels):
      raise ValueError(f"{self.name}: every image needs at least one class")
    if any(c < 0 or c >= num_classes for lab in self.labels for c in lab):
      raise ValueError(f"{self.name}: labels outside [0, {num_classes})")
    if any(not names for names in self.classnames):
      raise ValueError(f"{self.name}: every class needs a name")
    if self.partition is not None:
      if self.partition not in self.attributes or self.class_partition is None:
        raise ValueError(f"{self.name}: partition {self.partition!r} needs that attribute and class_partition")
      if len(self.class_partition) != num_classes:
        raise ValueError(f"{self.name}: class_partition has {len(self.class_partition)} entries for "
                         f"{num_classes} classes")

  @property
  def num_classes(self) -> int:
    return len(self.classnames)

  def class_mask(self) -> np.ndarray | None:
    """bool [N, C]: the classes each example competes among (None: all of them)."""
    if self.partition is None:
      return None
    values = np.asarray(self.attributes[self.partition], dtype=object)
    return values[:, None] == np.asarray(self.class_partition, dtype=object)[None, :]

  def ordered_groups(self, kind: str) -> list[str]:
    values = set(self.attributes[kind]) - {""}
    order = [v for v in self.group_order.get(kind, ()) if v in values]
    return order + sorted(values - set(order))

  def subset(self, idx: Sequence[int] | np.ndarray) -> "ClassificationSet":
    idx = [int(i) for i in idx]
    return dataclasses.replace(
        self, paths=tuple(self.paths[i] for i in idx), labels=tuple(self.labels[i] for i in idx),
        attributes={k: tuple(v[i] for i in idx) for k, v in self.attributes.items()})


@dataclasses.dataclass(frozen=True)
class RetrievalSet(_ImageFiles):
  """Images and captions, several captions per image allowed: text_image[j] is the image caption j describes."""

  name: str
  root: str
  paths: tuple[str, ...]
  captions: tuple[str, ...]
  text_image: np.ndarray
  text_lang: tuple[str, ...]

  def __post_init__(self):
    object.__setattr__(self, "text_image", np.asarray(self.text_image, np.int64))
    if len(self.captions) != len(self.text_image) or len(self.captions) != len(self.text_lang):
      raise ValueError(f"{self.name}: {len(self.captions)} captions, {len(self.text_image)} image refs, "
                       f"{len(self.text_lang)} languages")
    if len(self.text_image) and (self.text_image.min() < 0 or self.text_image.max() >= len(self.paths)):
      raise ValueError(f"{self.name}: caption image indices outside [0, {len(self.paths)})")

  def languages(self) -> list[str]:
    return sorted(set(self.text_lang))

  def subset(self, idx: Sequence[int] | np.ndarray) -> "RetrievalSet":
    """The chosen images with all their captions (image indices renumbered)."""
    idx = [int(i) for i in idx]
    new = {old: k for k, old in enumerate(idx)}
    keep = [j for j, i in enumerate(self.text_image.tolist()) if i in new]
    return dataclasses.replace(
        self, paths=tuple(self.paths[i] for i in idx), captions=tuple(self.captions[j] for j in keep),
        text_image=np.asarray([new[int(self.text_image[j])] for j in keep], np.int64),
        text_lang=tuple(self.text_lang[j] for j in keep))


@dataclasses.dataclass(frozen=True)
class AttributeSet(_ImageFiles):
  """Images with a sensitive attribute each ('' when the image shows no people), for bias measurements."""

  name: str
  root: str
  paths: tuple[str, ...]
  attribute: tuple[str, ...]

  def __post_init__(self):
    if len(self.paths) != len(self.attribute):
      raise ValueError(f"{self.name}: {len(self.attribute)} attribute values for {len(self.paths)} images")


def index_classes(names: Sequence[str]) -> dict[str, int]:
  """Sorted unique names -> class ids."""
  return {n: i for i, n in enumerate(sorted(set(names)))}
