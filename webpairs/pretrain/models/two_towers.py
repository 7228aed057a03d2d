"""SigLIP two-tower model: a ViT and a text transformer into one L2-normalised space, with learnable t' and b."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain.models import common
from webpairs.pretrain.models.text import TextTransformer
from webpairs.pretrain.models.vit import ViT


def l2_normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  # In fp32 whatever the towers computed in: the loss maths stay fp32.
  x = x.astype(jnp.float32)
  return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps)


class TwoTowers(nnx.Module):
  """(image, text) -> (zimg, ztxt, extras); either input may be None to embed one side only.

  The logit scale is t = exp(t') with t' initialised to log(temperature_init) and the
  bias b to bias_init: SigLIP's t' = log 10, b = -10 keep the initial loss from being
  dominated by the many easy negatives.
  """

  def __init__(
      self,
      *,
      image: Mapping[str, Any],
      text: Mapping[str, Any],
      out_dim: int | None = None,
      temperature_init: float = 10.0,
      bias_init: float = -10.0,
      dtype: Any = "float32",
      remat: bool = False,
      rngs: nnx.Rngs,
  ):
    text_kw = dict(text)
    image_kw = dict(image)
    if out_dim is None:  # default: the text width, as big_vision's SigLIP configs
      out_dim = text_kw.get("width") or common.decode_variant(text_kw.get("variant"))["width"]
    self.out_dim = out_dim
    self.img = ViT(**image_kw, num_classes=out_dim, dtype=dtype, remat=remat, rngs=rngs)
    self.txt = TextTransformer(**text_kw, num_classes=out_dim, dtype=dtype, remat=remat, rngs=rngs)
    self.t_prime = nnx.Param(jnp.asarray(np.log(temperature_init), jnp.float32))
    self.b = nnx.Param(jnp.asarray(bias_init, jnp.float32))

  def __call__(self, image: jax.Array | None = None, text: jax.Array | None = None
               ) -> tuple[jax.Array | None, jax.Array | None, dict[str, Any]]:
    extras: dict[str, Any] = {"t": jnp.exp(self.t_prime[...]), "t_prime": self.t_prime[...], "b": self.b[...]}
    zimg = ztxt = None
    if image is not None:
      zimg, extras["img"] = self.img(image)
      zimg = l2_normalize(zimg)
    if text is not None:
      ztxt, extras["txt"] = self.txt(text)
      ztxt = l2_normalize(ztxt)
    return zimg, ztxt, extras
