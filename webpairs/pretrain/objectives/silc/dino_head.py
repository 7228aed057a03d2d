"""DINO projection head: MLP, L2-normalised bottleneck, weight-normalised prototype layer of K outputs."""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from webpairs.pretrain.models import common


def _normalize(x: jax.Array, axis: int, eps: float = 1e-12) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.sum(x * x, axis=axis, keepdims=True) + eps)


class DINOHead(nnx.Module):
  """[..., in_dim] -> [..., num_prototypes] logits (before temperature).

  The prototype layer is weight-normalised with the gain fixed to 1 (DINO): each
  prototype is the direction v_k / ||v_k||, so with the L2-normalised bottleneck every
  logit is a cosine in [-1, 1] and only the temperature sets the softmax's sharpness.
  """

  def __init__(self, in_dim: int, *, num_prototypes: int = 1024, hidden_dim: int = 2048, bottleneck_dim: int = 256,
               num_layers: int = 3, dtype: Any = "float32", rngs: nnx.Rngs):
    if num_layers < 1:
      raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    dtype = common.dtype_of(dtype)
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
    kw = dict(dtype=dtype, param_dtype=jnp.float32, kernel_init=nnx.initializers.truncated_normal(0.02),
              bias_init=nnx.initializers.zeros, rngs=rngs)
    self.layers = nnx.List([nnx.Linear(a, b, **kw) for a, b in itertools.pairwise(dims)])
    self.prototypes = nnx.Param(nnx.initializers.truncated_normal(0.02)(
        rngs.params(), (bottleneck_dim, num_prototypes), jnp.float32))

  def __call__(self, x: jax.Array) -> jax.Array:
    for i, layer in enumerate(self.layers):
      x = layer(x)
      if i < len(self.layers) - 1:
        x = jax.nn.gelu(x)
    x = _normalize(x.astype(jnp.float32), axis=-1)
    return x @ _normalize(self.prototypes[...], axis=0)
