"""Models by name: `build(name, rngs=..., **kwargs)`; sizes by variant ('mu', 'Ti', 'S', 'B', 'L', 'So400m', '/patch')."""

from __future__ import annotations

from typing import Any

from flax import nnx

from webpairs.pretrain.models.captioner import Captioner
from webpairs.pretrain.models.common import VARIANTS, decode_variant
from webpairs.pretrain.models.siglip2 import SigLIP2
from webpairs.pretrain.models.text import TextTransformer
from webpairs.pretrain.models.two_towers import TwoTowers, l2_normalize
from webpairs.pretrain.models.vit import ViT

MODELS: dict[str, type[nnx.Module]] = {
    "two_towers": TwoTowers,
    "vit": ViT,
    "text_transformer": TextTransformer,
    "captioner": Captioner,
    "siglip2": SigLIP2,
}


def build(name: str, *, rngs: nnx.Rngs, **kwargs: Any) -> nnx.Module:
  """An initialised model from the registry."""
  if name not in MODELS:
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
  return MODELS[name](**kwargs, rngs=rngs)


__all__ = ["MODELS", "VARIANTS", "Captioner", "SigLIP2", "TextTransformer", "TwoTowers", "ViT", "build",
           "decode_variant", "l2_normalize"]
