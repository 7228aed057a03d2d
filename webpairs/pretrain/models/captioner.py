"""Captioner (CapPa, LocCa): a ViT whose unpooled patch tokens a transformer decoder cross-attends to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx

from webpairs.pretrain.models import common
from webpairs.pretrain.models.decoder import Decoder
from webpairs.pretrain.models.vit import ViT


def decoder_dims(image: Mapping[str, Any], decoder: Mapping[str, Any]) -> dict[str, int]:
  """The decoder's width/depth/mlp_dim/num_heads: its own variant or fields, else the encoder's sizes with
  half its depth (CapPa's default: the decoder is the smaller half of the parameters)."""
  enc = common.decode_variant(image["variant"]) if image.get("variant") else {}
  enc.update({k: image[k] for k in ("width", "depth", "mlp_dim", "num_heads") if image.get(k) is not None})
  dims = common.decode_variant(decoder["variant"]) if decoder.get("variant") else {
      k: enc[k] for k in ("width", "mlp_dim", "num_heads") if k in enc}
  dims.pop("patch_size", None)
  if not decoder.get("variant") and "depth" in enc:
    dims["depth"] = max(1, enc["depth"] // 2)
  dims.update({k: decoder[k] for k in ("width", "depth", "mlp_dim", "num_heads") if decoder.get(k) is not None})
  missing = {"width", "depth", "mlp_dim", "num_heads"} - set(dims)
  if missing:
    raise ValueError(f"decoder needs {sorted(missing)} (give a decoder or image variant, or set them)")
  return dims


class Captioner(nnx.Module):
  """`encode(image)` -> patch tokens [B, N, D] once; `decoder(tokens, encoded, causal)` -> logits, any number
  of times per image (LocCa runs three tasks on one encoding)."""

  def __init__(self, *, image: Mapping[str, Any], decoder: Mapping[str, Any], vocab_size: int, max_len: int,
               dtype: Any = "float32", remat: bool = False, rngs: nnx.Rngs):
    image_kw = {**dict(image), "pool_type": "none"}  # the decoder reads every patch token
    self.img = ViT(**image_kw, dtype=dtype, remat=remat, rngs=rngs)
    dims = decoder_dims(image, decoder)
    self.decoder = Decoder(vocab_size=vocab_size, max_len=max_len, memory_width=self.img.width, dtype=dtype,
                           rngs=rngs, **dims)

  def encode(self, image: jax.Array) -> jax.Array:
    return self.img(image)[1]["encoded"]

  def __call__(self, image: jax.Array, tokens: jax.Array, causal: jax.Array | bool = True) -> jax.Array:
    return self.decoder(tokens, self.encode(image), causal)
