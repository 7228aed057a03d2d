"""SigLIP 2's model: SigLIP's two towers plus a LocCa decoder cross-attending to the image tower's unpooled tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
from flax import nnx

from webpairs.pretrain.models.captioner import decoder_dims
from webpairs.pretrain.models.decoder import Decoder
from webpairs.pretrain.models.two_towers import TwoTowers


class SigLIP2(TwoTowers):
  """TwoTowers (same call, same parameter names) with `decoder`: one image tower serves both losses.

  A call with an image returns the tower's patch tokens in extras["img"]["encoded"], so
  the sigmoid loss (pooled, through the MAP head) and the decoder read one forward pass.
  `encode(image)` and `decoder` are the Captioner's interface: captioner evals and the
  LocCa objective run on this model unchanged. The decoder's vocabulary is the text
  tower's; its length decoder["max_len"] (region task rows may be longer than captions),
  by default the text's.
  """

  def __init__(self, *, image: Mapping[str, Any], text: Mapping[str, Any], decoder: Mapping[str, Any] | None = None,
               out_dim: int | None = None, temperature_init: float = 10.0, bias_init: float = -10.0,
               dtype: Any = "float32", remat: bool = False, rngs: nnx.Rngs):
    super().__init__(image=image, text=text, out_dim=out_dim, temperature_init=temperature_init,
                     bias_init=bias_init, dtype=dtype, remat=remat, rngs=rngs)
    decoder = dict(decoder or {})
    max_len = decoder.pop("max_len", None) or text["max_len"]
    self.decoder = Decoder(vocab_size=text["vocab_size"], max_len=max_len, memory_width=self.img.width,
                           dtype=dtype, rngs=rngs, **decoder_dims(image, decoder))

  def encode(self, image: jax.Array) -> jax.Array:
    """Unpooled patch tokens [B, N, width] (what the decoder cross-attends to)."""
    return self.img(image)[1]["encoded"]
