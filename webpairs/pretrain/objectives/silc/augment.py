"""Photometric view augmentation for self-distillation (DINO's recipe, minus what breaks captions): random
horizontal flips and brightness / contrast / saturation jitter, per image and view, on device."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

# ITU-R 601 luma: what "grey" means for saturation, contrast and grayscale.
_LUMA = jnp.array([0.299, 0.587, 0.114], jnp.float32)


@dataclasses.dataclass(frozen=True)
class ViewAugment:
  """Per view and image: flip with probability 1/2; with probability jitter_prob scale brightness, contrast
  and saturation by factors uniform in [1 - s, 1 + s]; with probability grayscale_prob drop colour.

  No hue jitter, and grayscale off by default: the sigmoid loss sees these views too, and web
  captions name colours ("a red circle"); a user whose captions do not can turn grayscale on.
  """
  flip: bool = True
  jitter_prob: float = 0.8
  brightness: float = 0.4
  contrast: float = 0.4
  saturation: float = 0.2
  grayscale_prob: float = 0.0

  def __post_init__(self):
    for name in ("jitter_prob", "grayscale_prob"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
    for name in ("brightness", "contrast", "saturation"):
      if not 0.0 <= getattr(self, name) <= 1.0:
        raise ValueError(f"{name} strength must be in [0, 1], got {getattr(self, name)}")

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any] | None) -> ViewAugment | None:
    """None (no augmentation) for a missing or empty block; unknown keys are an error, not ignored."""
    if not cfg:
      return None
    cfg = dict(cfg)
    unknown = set(cfg) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown silc.augment keys {sorted(unknown)}; known: {[f.name for f in dataclasses.fields(cls)]}")
    return cls(**cfg)


def grey(images: jax.Array) -> jax.Array:
  """[..., 3] -> [..., 1] luma."""
  return jnp.sum(images * _LUMA, axis=-1, keepdims=True)


def adjust_brightness(images: jax.Array, factor: jax.Array) -> jax.Array:
  """images in [0, 1], factor [B]: x * f."""
  return images * factor[:, None, None, None]


def adjust_contrast(images: jax.Array, factor: jax.Array) -> jax.Array:
  """Blend with the image's mean grey: m + f (x - m)."""
  mean = grey(images).mean(axis=(1, 2, 3), keepdims=True)
  return mean + factor[:, None, None, None] * (images - mean)


def adjust_saturation(images: jax.Array, factor: jax.Array) -> jax.Array:
  """Blend with each pixel's grey: g + f (x - g)."""
  g = grey(images)
  return g + factor[:, None, None, None] * (images - g)


def augment_views(key: jax.Array, images: jax.Array, aug: ViewAugment) -> jax.Array:
  """images [B, H, W, 3] float in [-1, 1] -> the same shape and range; a pure function of `key`."""
  b = images.shape[0]
  k_flip, k_jit, k_b, k_c, k_s, k_grey = jax.random.split(key, 6)
  x = (images + 1.0) / 2.0
  if aug.flip:
    flip = jax.random.bernoulli(k_flip, 0.5, (b,))
    x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
  jitter = jax.random.bernoulli(k_jit, aug.jitter_prob, (b,))

  def factor(k: jax.Array, strength: float) -> jax.Array:
    f = jax.random.uniform(k, (b,), minval=1.0 - strength, maxval=1.0 + strength)
    return jnp.where(jitter, f, 1.0)

  # A fixed order (torchvision draws one); each step is clipped as a camera would saturate.
  x = jnp.clip(adjust_brightness(x, factor(k_b, aug.brightness)), 0.0, 1.0)
  x = jnp.clip(adjust_contrast(x, factor(k_c, aug.contrast)), 0.0, 1.0)
  x = jnp.clip(adjust_saturation(x, factor(k_s, aug.saturation)), 0.0, 1.0)
  if aug.grayscale_prob > 0:
    to_grey = jax.random.bernoulli(k_grey, aug.grayscale_prob, (b,))
    x = jnp.where(to_grey[:, None, None, None], jnp.broadcast_to(grey(x), x.shape), x)
  return x * 2.0 - 1.0
