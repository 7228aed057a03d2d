"""SigLIP 2's image-text objective: the sigmoid loss of the two towers plus LocCa's decoder losses, from one pass
of the image tower (its pooled output feeds the sigmoid loss, its patch tokens the decoder)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from webpairs.pretrain.objectives import locca as locca_lib
from webpairs.pretrain.objectives.base import LossObjective
from webpairs.pretrain.objectives.sigmoid import LossFn


class SigLIPLocCa(LossObjective):
  """The trainer's objective: (SigLIP2 model, batch, rng) -> (w_sig * sigmoid + w_locca * LocCa, metrics).

  The batch is SigLIP's (image, text) plus LocCa's region fields (locca.TASKS x tokens/weights).
  """

  needs_regions = True

  def __init__(self, *, sigmoid: LossFn, locca: locca_lib.LocCa, sigmoid_weight: float = 1.0,
               locca_weight: float = 1.0):
    self.sigmoid, self.locca = sigmoid, locca
    self.sigmoid_weight, self.locca_weight = float(sigmoid_weight), float(locca_weight)

  def loss(self, model: Any, batch: Mapping[str, jax.Array], rng: jax.Array, extra: Mapping[str, Any] | None = None
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    zimg, ztxt, extras = model(batch["image"], batch["text"])
    sig = self.sigmoid(zimg, ztxt, extras["t"], extras["b"])
    loc, metrics = self.locca.from_encoded(model.decoder, extras["img"]["encoded"], batch, rng)
    total = self.sigmoid_weight * sig + self.locca_weight * loc
    return total, {"sigmoid_loss": sig, "locca_loss": loc, **metrics, "t": extras["t"], "b": extras["b"]}
