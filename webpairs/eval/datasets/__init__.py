"""Evaluation set loaders by name: metadata in each dataset's published format, images from a user-given folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webpairs.eval.datasets import curated, dollarstreet, geode, gldv2, labelled, marvl, xm3600
from webpairs.eval.datasets.base import (AttributeSet, ClassificationSet, MissingImagesError, RetrievalSet,
                                         check_images)

LOADERS: dict[str, Callable[..., Any]] = {
    "dollarstreet": dollarstreet.load,
    "geode": geode.load,
    "gldv2": gldv2.load,
    "xm3600": xm3600.load,
    "marvl": marvl.load,
    "labelled": labelled.load,
    "curated": curated.load,  # held-out curated shards (captions, regions); data_dir: their folder or glob
}


def load(name: str, root: str, **kwargs: Any) -> ClassificationSet | RetrievalSet | AttributeSet | curated.CuratedSet:
  """The dataset `name` from the folder `root` (kwargs go to its loader)."""
  if name not in LOADERS:
    raise ValueError(f"unknown eval dataset {name!r}; known: {', '.join(LOADERS)}")
  return LOADERS[name](root, **kwargs)


__all__ = ["LOADERS", "AttributeSet", "ClassificationSet", "MissingImagesError", "RetrievalSet", "check_images",
           "load"]
