"""The model a pretraining config describes: constructor arguments and an rng -> module builder (SILC included)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_collections
from flax import nnx

from webpairs.pretrain import models
from webpairs.pretrain.objectives import cappa as cappa_lib
from webpairs.pretrain.objectives.silc.model import SilcModel


def model_kwargs(config: ml_collections.ConfigDict, vocab_size: int) -> dict[str, Any]:
  """Constructor arguments of the configured model; sizes the input fixes are filled in here."""
  if config.get("model_name", "two_towers") == "captioner":
    return cappa_lib.model_kwargs(config, vocab_size)
  m = config.model
  attention = {"attention": m.attention} if m.get("attention") else {}  # else models.common.DEFAULT_ATTENTION
  kwargs = dict(
      image={**dict(m.image), "image_size": config.input.res, **attention},
      text={**dict(m.text), "vocab_size": vocab_size, "max_len": config.input.max_len, **attention},
      out_dim=m.get("out_dim"),
      temperature_init=m.temperature_init,
      bias_init=m.bias_init,
      dtype=m.dtype,
      remat=m.remat,
  )
  if config.get("model_name") == "siglip2":  # the two towers plus LocCa's decoder on the image tower
    kwargs["decoder"] = {**dict(m.get("decoder") or {}), "max_len": cappa_lib.decoder_max_len(config)}
  return kwargs


def model_builder(config: ml_collections.ConfigDict, vocab_size: int) -> Callable[[Any], nnx.Module]:
  """rng -> an initialised model, for training and inference alike: the configured one, or with a `silc` block
  (loss.name silc / siglip2) SILC's student, the towers with DINO heads and a mask token."""
  kwargs = model_kwargs(config, vocab_size)
  if config.get("silc") is not None:
    head = dict(config.silc.head)
    return lambda rng: SilcModel(**kwargs, head=head, rngs=nnx.Rngs(rng))
  name = config.get("model_name", "two_towers")
  return lambda rng: models.build(name, rngs=nnx.Rngs(rng), **kwargs)
