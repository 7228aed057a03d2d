"""Text transformer: token + learned position embedding, bidirectional pre-LN encoder, `last`-token pooling."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain.models import common

POOL_TYPES = ("last", "first", "gap", "map")


class TextTransformer(nnx.Module):
  """int32 tokens [B, L] -> (pooled [B, num_classes or width], extras).

  No attention mask: SigLIP pads with EOS (sticky EOS, pad id 1), so `last` pooling reads
  the EOS token, which has attended over the whole caption.
  """

  def __init__(
      self,
      variant: str | None = None,
      *,
      vocab_size: int,
      max_len: int,
      width: int | None = None,
      depth: int | None = None,
      mlp_dim: int | None = None,
      num_heads: int | None = None,
      pool_type: str = "last",
      num_classes: int | None = None,
      dtype: Any = "float32",
      remat: bool = False,
      attention: str | None = None,
      rngs: nnx.Rngs,
  ):
    dims = common.decode_variant(variant) if variant else {}
    dims.pop("patch_size", None)
    for name, value in dict(width=width, depth=depth, mlp_dim=mlp_dim, num_heads=num_heads).items():
      if value is not None:
        dims[name] = value
    missing = {"width", "depth", "mlp_dim", "num_heads"} - set(dims)
    if missing:
      raise ValueError(f"TextTransformer needs {sorted(missing)} (give a variant such as 'B' or set them)")
    if pool_type not in POOL_TYPES:
      raise ValueError(f"pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
    if not vocab_size or vocab_size < 1:
      raise ValueError(f"vocab_size must be positive (the tokenizer's), got {vocab_size!r}")
    self.width = width = dims["width"]
    self.max_len = max_len
    self.pool_type = pool_type
    dtype = self.dtype = common.dtype_of(dtype)
    emb_init = nnx.initializers.normal(stddev=1 / np.sqrt(width))
    self.embedding = nnx.Embed(vocab_size, width, dtype=dtype, param_dtype=jnp.float32, embedding_init=emb_init,
                               rngs=rngs)
    self.pos_embedding = nnx.Param(emb_init(rngs.params(), (1, max_len, width), jnp.float32))
    self.encoder = common.Encoder(width, dims["depth"], dims["mlp_dim"], dims["num_heads"], dtype=dtype,
                                  remat=remat, rngs=rngs, attention_impl=attention or common.DEFAULT_ATTENTION)
    self.map_head = (common.MAPHead(width, dims["mlp_dim"], dims["num_heads"], dtype=dtype, rngs=rngs,
                                   attention_impl=attention or common.DEFAULT_ATTENTION)
                     if pool_type == "map" else None)
    self.head = (nnx.Linear(width, num_classes, dtype=dtype, param_dtype=jnp.float32,
                            kernel_init=common.KERNEL_INIT, rngs=rngs) if num_classes else None)

  def __call__(self, tokens: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    if tokens.shape[-1] != self.max_len:
      raise ValueError(f"text of length {tokens.shape[-1]} but the model was built for max_len={self.max_len}")
    x = self.embedding(tokens) + self.pos_embedding[...].astype(self.dtype)
    x = self.encoder(x)
    extras = {"encoded": x}
    x = common.pool(self.pool_type, x, self.map_head)
    extras["pre_logits"] = x
    return (self.head(x) if self.head is not None else x), extras
