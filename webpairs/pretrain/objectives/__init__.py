"""Training objectives behind one interface (base.Objective), chosen by config.loss.name: the sigmoid losses of two
towers (dense, ring, chunked), CapPa, LocCa, SigLIP 2's sigmoid + LocCa, and SILC / SigLIP 2 with self-distillation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import ml_collections

from webpairs.pretrain.objectives import cappa, locca, sigmoid, siglip_locca
from webpairs.pretrain.objectives.base import Objective
from webpairs.pretrain.objectives.silc import objective as silc

# builder(config, mesh, axis_name): mesh / axis_name say where the batch is sharded, for an objective with a
# sigmoid part (the ring loss needs them).
Builder = Callable[[ml_collections.ConfigDict, jax.sharding.Mesh | None, str], Objective]


def _args(loss: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
  return {k: loss[k] for k in keys if k in loss}


def _sigmoid(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str) -> Objective:
  loss = config.loss
  return sigmoid.Sigmoid(sigmoid.get_loss(loss["name"], mesh=mesh, axis_name=axis_name,
                                          chunk_size=loss.get("chunk_size")))


def _cappa(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str) -> Objective:
  return cappa.CapPa(**_args(config.loss, ("parallel_prob", "eos_id")))


def _locca(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str) -> Objective:
  return locca.LocCa(**_args(config.loss, ("parallel_prob", "eos_id", "task_weights")))


def _siglip_locca(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str
                  ) -> siglip_locca.SigLIPLocCa:
  loss = config.loss
  return siglip_locca.SigLIPLocCa(
      sigmoid=sigmoid.get_loss(loss.get("sigmoid", "dense"), mesh=mesh, axis_name=axis_name,
                               chunk_size=loss.get("chunk_size")),
      locca=_locca(config, mesh, axis_name), sigmoid_weight=loss.get("sigmoid_weight", 1.0),
      locca_weight=loss.get("locca_weight", 1.0))


def _silc(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str) -> Objective:
  loss = config.loss
  return silc.Silc(config.silc, image_size=config.input.res, sigmoid=sigmoid.get_loss(
      loss.get("sigmoid", "dense"), mesh=mesh, axis_name=axis_name, chunk_size=loss.get("chunk_size")))


def _siglip2(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None, axis_name: str) -> Objective:
  return silc.SigLIP2(config.silc, image_size=config.input.res, image_text=_siglip_locca(config, mesh, axis_name))


# config.loss.name -> (class, builder).
OBJECTIVES: dict[str, tuple[type[Objective], Builder]] = {
    "dense": (sigmoid.Sigmoid, _sigmoid),
    "ring": (sigmoid.Sigmoid, _sigmoid),
    "chunked": (sigmoid.Sigmoid, _sigmoid),
    "cappa": (cappa.CapPa, _cappa),
    "locca": (locca.LocCa, _locca),
    # SigLIP 2's first stage alone: the sigmoid loss named by loss.sigmoid plus LocCa, weighted.
    "siglip_locca": (siglip_locca.SigLIPLocCa, _siglip_locca),
    # The sigmoid loss (loss.sigmoid) on SILC's global views plus self-distillation (config.silc).
    "silc": (silc.Silc, _silc),
    # siglip_locca on the input images, self-distillation and masked prediction from config.silc.switch_step on.
    "siglip2": (silc.SigLIP2, _siglip2),
}
# Objectives that read config.silc: exactly these, so that an old-style config (a silc block beside a plain
# loss name, which used to pick the SILC trainer) fails loudly instead of training without self-distillation.
WITH_SILC = ("silc", "siglip2")


def objective_class(name: str) -> type[Objective]:
  """The class of the objective `name` (what it needs of the input, without building it)."""
  if name not in OBJECTIVES:
    raise ValueError(f"unknown loss.name {name!r}; known: {', '.join(OBJECTIVES)}")
  return OBJECTIVES[name][0]


def check(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError when config.loss.name and the config's other blocks disagree."""
  name = config.loss["name"]
  objective_class(name)
  has_silc = config.get("silc") is not None
  if has_silc and name not in WITH_SILC:
    raise ValueError(
        f"config.silc is set but loss.name is {name!r}: SILC is an objective now. Set loss.name=silc (the sigmoid "
        f"loss on global views, its kind in loss.sigmoid) or loss.name=siglip2, or drop the silc block (a saved "
        f"config.json of an earlier run: SILC's old loss.name goes to loss.sigmoid, siglip_locca becomes siglip2)")
  if name in WITH_SILC and not has_silc:
    raise ValueError(f"loss.name={name} needs a config.silc block (configs/pretrain/silc.py, siglip2.py)")
  if has_silc and "image_text_on" in config.silc:
    raise ValueError("config.silc.image_text_on is gone: loss.name=silc puts the sigmoid loss on the global views, "
                     "loss.name=siglip2 sigmoid + LocCa on the input images")


def build(config: ml_collections.ConfigDict, *, mesh: jax.sharding.Mesh | None = None, axis_name: str = "data"
          ) -> Objective:
  """The objective named by config.loss.name, built from config.loss (and config.silc, config.input.res)."""
  check(config)
  return OBJECTIVES[config.loss["name"]][1](config, mesh, axis_name)


__all__ = ["OBJECTIVES", "Objective", "build", "check", "objective_class"]
