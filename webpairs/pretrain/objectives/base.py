"""The interface every training objective implements: loss and gradients of a step, and any state of its own that
the train state carries (SILC's EMA teacher and centres) beside {step, params, opt, rng}."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

import jax

# (loss, metrics, grads w.r.t. params, what update_extra needs from the step: None for most objectives).
Step = tuple[jax.Array, dict[str, jax.Array], Any, Any]


class Objective(abc.ABC):
  """One training objective, as the Trainer uses it (traced under jit): the loss and gradients of a step and
  state of its own (none for most) updated after the optimiser step.

  Most objectives are a loss of (model, batch, rng): they subclass LossObjective. SILC's step
  computes its teacher outside the gradient and SigLIP 2's runs self-distillation's gradients
  only from its switch on, so they implement loss_and_grads themselves.
  """

  # The input pipeline must emit LocCa's region fields (config.input.regions).
  needs_regions: bool = False
  # Random keys the step draws for the objective from the state's key, beside the state's next key.
  num_keys: int = 1

  def init_extra(self, params: Any, rng: jax.Array) -> dict[str, Any]:
    """The objective's own state, kept in the train state and checkpointed with it: none for most."""
    del params, rng
    return {}

  @abc.abstractmethod
  def loss_and_grads(self, model_of: Callable[[Any], Any], params: Any, batch: Mapping[str, jax.Array],
                     rng: jax.Array, extra: Mapping[str, Any], step: jax.Array) -> Step:
    """(loss, metrics, grads, pending) of one step: model_of(params) is the model at those params, rng one key
    (or [num_keys, 2] keys), extra the objective's state, step the step being taken (from 0)."""

  def update_extra(self, extra: Mapping[str, Any], params: Any, step: jax.Array, pending: Any
                   ) -> dict[str, Any]:
    """The objective's state after the optimiser step: params are the updated ones, pending loss_and_grads'."""
    del params, step, pending
    return dict(extra)


class LossObjective(Objective):
  """An objective whose gradients are those of one loss of (model, batch, rng, extra)."""

  @abc.abstractmethod
  def loss(self, model: Any, batch: Mapping[str, jax.Array], rng: jax.Array, extra: Mapping[str, Any] | None = None
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(loss, metrics) of one batch."""

  def loss_and_grads(self, model_of: Callable[[Any], Any], params: Any, batch: Mapping[str, jax.Array],
                     rng: jax.Array, extra: Mapping[str, Any], step: jax.Array) -> Step:
    del step
    (loss, metrics), grads = jax.value_and_grad(
        lambda p: self.loss(model_of(p), batch, rng, extra), has_aux=True)(params)
    return loss, metrics, grads, None
