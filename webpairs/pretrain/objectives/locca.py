"""LocCa: captioning (Cap, with parallel prediction), referring expressions -> boxes (ARef) and boxes -> region
text (GCap) from one image encoding: the encoder runs once per example, the decoder three times."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from webpairs.pretrain.objectives import cappa
from webpairs.pretrain.objectives.base import LossObjective

# Batch fields the region tasks read: labels int32 [B, L] (prompt + target + EOS, pad 0, as built by
# locca_boxes.task_tokens) and float weights [B, L] on the label positions that count (all zero for
# an example without regions).
TASKS = ("aref", "gcap")


def task_loss(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> jax.Array:
  """Mean per-sequence loss over the rows that have any weight; 0 (not NaN) when none has."""
  _, per_seq = cappa.weighted_sequence_loss(logits, labels, weights)
  has = (weights.sum(axis=-1) > 0).astype(jnp.float32)
  return jnp.sum(per_seq * has) / jnp.maximum(has.sum(), 1.0)


class LocCa(LossObjective):
  """The trainer's objective: (Captioner, batch, rng) -> (cap + aref + gcap weighted losses, metrics)."""

  needs_regions = True

  def __init__(self, *, parallel_prob: float = 0.5, eos_id: int = cappa.EOS_ID,
               task_weights: Mapping[str, float] | None = None):
    self.cap = cappa.CapPa(parallel_prob=parallel_prob, eos_id=eos_id)
    self.task_weights = {"cap": 1.0, "aref": 1.0, "gcap": 1.0, **dict(task_weights or {})}

  def loss(self, model: Any, batch: Mapping[str, jax.Array], rng: jax.Array, extra: Mapping[str, Any] | None = None
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    del extra
    return self.from_encoded(model.decoder, model.encode(batch["image"]), batch, rng)

  def from_encoded(self, decoder: Any, encoded: jax.Array, batch: Mapping[str, jax.Array], rng: jax.Array
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The loss from image tokens [B, N, D] encoded elsewhere (SigLIP 2: by the pass that feeds the sigmoid loss)."""
    # The image's cross-attention keys/values too are computed once and shared by the three tasks.
    memory = decoder.memory(encoded)
    labels = cappa.targets_from_text(batch["text"], self.cap.eos_id)
    parallel = cappa.parallel_rows(rng, labels.shape[0], self.cap.parallel_prob)
    inputs, causal = cappa.decoder_inputs(labels, parallel, decoder.mask_id)
    losses = {"cap": cappa.sequence_loss(decoder(inputs, encoded, causal, memory=memory), labels)[0]}
    for task in TASKS:
      task_labels = batch[f"{task}_tokens"]
      # Prompt then target, causally: the prompt conditions the target the way a decode would.
      logits = decoder(cappa.shift_right(task_labels), encoded, True, memory=memory)
      losses[task] = task_loss(logits, task_labels, batch[f"{task}_weights"])
    total = sum(self.task_weights[k] * v for k, v in losses.items())
    metrics = {f"loss_{k}": v for k, v in losses.items()}
    metrics["region_fraction"] = jnp.mean((batch["aref_weights"].sum(axis=-1) > 0).astype(jnp.float32))
    return total, metrics
