"""Test doubles for evaluators: a 'model' that embeds images and English texts by the named colours they hold.

Not a model of anything: it lets evaluator tests know what the right answer is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from webpairs.demo.sample import scenes

NAMES = tuple(scenes.COLOURS)
PALETTE = np.asarray([scenes.COLOURS[c] for c in NAMES], np.float32)
_EPS = 1e-3  # keeps every vector non-zero, so it can be normalised


def _normalise(x: np.ndarray) -> np.ndarray:
  x = x + _EPS
  return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class ColourModel:
  """Images: share of pixels nearest to each named colour. Texts: counts of the English colour words."""

  image_size = 16

  def __init__(self):
    self.images_seen = 0

  def embed_images(self, images: np.ndarray) -> np.ndarray:
    assert images.dtype == np.uint8 and images.shape[1:] == (self.image_size, self.image_size, 3), images.shape
    self.images_seen += len(images)
    px = images.reshape(len(images), -1, 1, 3).astype(np.float32)
    nearest = np.argmin(((px - PALETTE[None, None]) ** 2).sum(-1), axis=-1)  # [B, pixels]
    hist = np.stack([np.bincount(row, minlength=len(NAMES)) for row in nearest]).astype(np.float32)
    return _normalise(hist / hist.sum(axis=1, keepdims=True))

  def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
    counts = np.zeros((len(texts), len(NAMES)), np.float32)
    for i, t in enumerate(texts):
      for word in re.findall(r"[a-z]+", t.lower()):
        if word in NAMES:
          counts[i, NAMES.index(word)] += 1
    return _normalise(counts)


class ColourScorer:
  """The same colour match as a captioner would give it: a score per (image, text) pair, no text embeddings."""

  image_size = 16

  def __init__(self):
    self._model = ColourModel()

  def score_texts(self, images: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    return np.log(self._model.embed_images(images) @ self._model.embed_texts(texts).T)


class ConstantModel:
  """Embeds everything to the same vector: every metric must come out at (or below) chance."""

  image_size = 8

  def embed_images(self, images: np.ndarray) -> np.ndarray:
    return np.tile(np.eye(1, 4, dtype=np.float32), (len(images), 1))

  def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
    return np.tile(np.eye(1, 4, dtype=np.float32), (len(texts), 1))


def solid_image(path, colour: str, size: int = 24, spot: str | None = None) -> None:
  """A PNG of one named colour, optionally with a smaller square of another in the middle."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  arr = np.zeros((size, size, 3), np.uint8)
  arr[:] = scenes.COLOURS[colour]
  if spot:
    q = size // 4
    arr[q:size - q, q:size - q] = scenes.COLOURS[spot]
  Image.fromarray(arr).save(path)
