"""Eval images from disk: decoded and resized as the training input does (plain resize to a square, bilinear)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent import futures

import numpy as np
from PIL import Image

from webpairs.formats import images as formats_images

_THREADS = 4  # PIL decodes with the GIL released


def load_image(path: str, size: int) -> np.ndarray:
  """uint8 [size, size, 3]. JPEGs decode at reduced scale (draft mode) when still at least `size` pixels."""
  with Image.open(path) as img:
    if img.format == "JPEG":
      img.draft("RGB", (size, size))
    img = formats_images.upright_rgb(img)
  if img.size != (size, size):
    img = img.resize((size, size), Image.BILINEAR)
  return np.asarray(img, np.uint8)


def batches(files: Sequence[str], size: int, batch_size: int) -> Iterator[np.ndarray]:
  """uint8 [B, size, size, 3] batches of the files in order; the last one may be short."""
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  with futures.ThreadPoolExecutor(_THREADS) as pool:
    for k in range(math.ceil(len(files) / batch_size)):
      chunk = files[k * batch_size:(k + 1) * batch_size]
      yield np.stack(list(pool.map(lambda p: load_image(p, size), chunk)))
