"""Generative objectives by loss name: each maps (model, batch, rng) -> (loss, metrics) for the trainer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax

from webpairs.pretrain import cappa, locca

Objective = Callable[[Any, Mapping[str, jax.Array], jax.Array], tuple[jax.Array, dict[str, jax.Array]]]

# name -> (objective class, its constructor arguments taken from the loss config).
OBJECTIVES: dict[str, tuple[type, tuple[str, ...]]] = {
    "cappa": (cappa.CapPa, ("parallel_prob", "eos_id")),
    "locca": (locca.LocCa, ("parallel_prob", "eos_id", "task_weights")),
}


def build(loss: Mapping[str, Any]) -> Objective | None:
  """The objective named by loss["name"], or None for the sigmoid losses (losses.get_loss) of the two towers."""
  name = loss["name"]
  if name not in OBJECTIVES:
    return None
  cls, keys = OBJECTIVES[name]
  return cls(**{k: loss[k] for k in keys if k in loss})
