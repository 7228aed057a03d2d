"""Objectives by loss name: each maps (model, batch, rng) -> (loss, metrics) for the trainer. The generative ones
(CapPa, LocCa) and SigLIP 2's sigmoid + LocCa; the plain sigmoid losses of two towers are losses.get_loss's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax

from webpairs.pretrain import cappa, locca, losses, siglip_locca

Objective = Callable[[Any, Mapping[str, jax.Array], jax.Array], tuple[jax.Array, dict[str, jax.Array]]]

# name -> (objective class, its constructor arguments taken from the loss config).
OBJECTIVES: dict[str, tuple[type, tuple[str, ...]]] = {
    "cappa": (cappa.CapPa, ("parallel_prob", "eos_id")),
    "locca": (locca.LocCa, ("parallel_prob", "eos_id", "task_weights")),
}
# SigLIP 2: the sigmoid loss named by loss["sigmoid"] (dense | ring | chunked) plus LocCa, weighted.
SIGLIP_LOCCA = "siglip_locca"


def _make(name: str, loss: Mapping[str, Any]) -> Any:
  cls, keys = OBJECTIVES[name]
  return cls(**{k: loss[k] for k in keys if k in loss})


def build(loss: Mapping[str, Any], *, mesh: jax.sharding.Mesh | None = None, axis_name: str = "data"
          ) -> Objective | None:
  """The objective named by loss["name"], or None for the sigmoid losses (losses.get_loss) of the two towers.

  mesh / axis_name: where the batch is sharded, for an objective with a sigmoid part (the ring loss needs them).
  """
  name = loss["name"]
  if name == SIGLIP_LOCCA:
    sigmoid = losses.get_loss(loss.get("sigmoid", "dense"), mesh=mesh, axis_name=axis_name,
                              chunk_size=loss.get("chunk_size"))
    return siglip_locca.SigLIPLocCa(sigmoid=sigmoid, locca=_make("locca", loss),
                                    sigmoid_weight=loss.get("sigmoid_weight", 1.0),
                                    locca_weight=loss.get("locca_weight", 1.0))
  if name not in OBJECTIVES:
    return None
  return _make(name, loss)
