"""CapPa: captioning with parallel prediction. Per example, with probability p the decoder sees only [MASK]
tokens with full attention and predicts the whole caption at once; otherwise teacher forcing, causally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from webpairs.pretrain.objectives.base import LossObjective

PAD_ID = 0  # T5 ids (DESIGN §5): generative targets pad with 0
EOS_ID = 1


def targets_from_text(text: jax.Array, eos_id: int = EOS_ID, pad_id: int = PAD_ID) -> jax.Array:
  """The input pipeline's contrastive text (sticky EOS: every position after the caption is EOS) -> targets
  with one EOS and pad after it, so that the loss weighs each caption's tokens and its end once.

  Done on device because it is a cumsum: the pipeline stays the one SigLIP uses.
  """
  seen = jnp.cumsum(text == eos_id, axis=-1)
  return jnp.where(seen > 1, pad_id, text).astype(jnp.int32)


def shift_right(labels: jax.Array, start_id: int = PAD_ID) -> jax.Array:
  """Teacher-forcing inputs: [start, y_0, ..., y_{L-2}]."""
  return jnp.concatenate([jnp.full_like(labels[:, :1], start_id), labels[:, :-1]], axis=1)


def parallel_rows(rng: jax.Array, batch_size: int, p: float) -> jax.Array:
  """bool [B]: which examples use parallel prediction, each independently with probability p."""
  if not 0.0 <= p <= 1.0:
    raise ValueError(f"parallel-prediction probability must be in [0, 1], got {p}")
  return jax.random.bernoulli(rng, p, (batch_size,))


def decoder_inputs(labels: jax.Array, parallel: jax.Array, mask_id: int) -> tuple[jax.Array, jax.Array]:
  """(inputs [B, L], causal [B]): all mask_id with full attention on parallel rows, else shift_right(labels)
  with a causal mask."""
  inputs = jnp.where(parallel[:, None], jnp.int32(mask_id), shift_right(labels))
  return inputs, ~parallel


def sequence_loss(logits: jax.Array, labels: jax.Array, pad_id: int = PAD_ID) -> tuple[jax.Array, jax.Array]:
  """(batch mean, per-sequence [B]) softmax cross-entropy, each sequence's the mean over its non-pad tokens:
  a short caption weighs as much as a long one. A row with no target tokens has loss 0."""
  return weighted_sequence_loss(logits, labels, (labels != pad_id).astype(jnp.float32))


def weighted_sequence_loss(logits: jax.Array, labels: jax.Array, weights: jax.Array
                           ) -> tuple[jax.Array, jax.Array]:
  """As sequence_loss with explicit per-token weights [B, L] (LocCa: the target part of prompt + target)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
  weights = weights.astype(jnp.float32)
  per_seq = jnp.sum(nll * weights, axis=-1) / jnp.maximum(jnp.sum(weights, axis=-1), 1.0)
  return per_seq.mean(), per_seq


class CapPa(LossObjective):
  """The trainer's objective: (model, batch, rng) -> (loss, metrics) for a `Captioner`."""

  def __init__(self, *, parallel_prob: float = 0.75, eos_id: int = EOS_ID):
    if not 0.0 <= parallel_prob <= 1.0:
      raise ValueError(f"parallel_prob must be in [0, 1], got {parallel_prob}")
    self.parallel_prob, self.eos_id = parallel_prob, eos_id

  def loss(self, model: Any, batch: Mapping[str, jax.Array], rng: jax.Array, extra: Mapping[str, Any] | None = None
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    labels = targets_from_text(batch["text"], self.eos_id)
    parallel = parallel_rows(rng, labels.shape[0], self.parallel_prob)
    inputs, causal = decoder_inputs(labels, parallel, model.decoder.mask_id)
    logits = model(batch["image"], inputs, causal)
    loss, per_seq = sequence_loss(logits, labels)
    n_par = parallel.sum()
    n_tf = labels.shape[0] - n_par
    # Each mode's mean on its own (0 when the batch has none): how far parallel prediction trails.
    return loss, {
        "loss_parallel": jnp.sum(per_seq * parallel) / jnp.maximum(n_par, 1),
        "loss_teacher_forced": jnp.sum(per_seq * ~parallel) / jnp.maximum(n_tf, 1),
        "parallel_fraction": n_par / labels.shape[0],
    }


def decoder_max_len(config: ml_collections.ConfigDict) -> int:
  """The decoder's positions: LocCa's task rows may be longer than captions (input.region_max_len); cover both."""
  inp = config.input
  return max(inp.max_len, int(inp.get("region_max_len", 0) or 0) if inp.get("regions", False) else 0)


def model_kwargs(config: ml_collections.ConfigDict, vocab_size: int) -> dict[str, Any]:
  """Captioner constructor arguments from a config (configs/cappa.py)."""
  m, inp = config.model, config.input
  attention = {"attention": m.attention} if m.get("attention") else {}
  return dict(image={**dict(m.image), "image_size": inp.res, **attention}, decoder=dict(m.decoder),
              vocab_size=vocab_size, max_len=decoder_max_len(config), dtype=m.dtype, remat=m.remat)
