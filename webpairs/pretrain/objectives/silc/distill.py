"""DINO self-distillation loss: centred, sharpened teacher softmax against the student's, over pairs of different views.

L = mean over pairs (i, j), i a teacher global view and j != i a student view, of
    -(1/B) sum_b sum_k p_t[i, b, k] log p_s[j, b, k],
with p_t = softmax((t - c) / tau_t) and p_s = softmax(s / tau_s). The centre c (an EMA of
the teacher's mean logits) keeps any one prototype from winning every image; the low
teacher temperature keeps the targets from going uniform: the two together avoid collapse.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

TEACHER_TEMP = 0.04
STUDENT_TEMP = 0.1
CENTER_MOMENTUM = 0.9


def teacher_probs(teacher_logits: jax.Array, center: jax.Array, temp: float = TEACHER_TEMP) -> jax.Array:
  """Centred and sharpened teacher targets, with no gradient."""
  t = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
  return jax.nn.softmax((t - center) / temp, axis=-1)


def cross_entropy(student_logits: jax.Array, targets: jax.Array, temp: float = STUDENT_TEMP) -> jax.Array:
  """[..., K] -> [...]: -sum_k targets log softmax(student / temp)."""
  return -jnp.sum(targets * jax.nn.log_softmax(student_logits.astype(jnp.float32) / temp, axis=-1), axis=-1)


def update_center(center: jax.Array, teacher_logits: jax.Array, momentum: float = CENTER_MOMENTUM) -> jax.Array:
  """c <- m c + (1 - m) mean(teacher logits) over every axis but the last; on logits before any softmax.

  Under jit with the batch sharded the mean is over the global batch (XLA inserts the
  all-reduce), as DINO's all_reduce of the batch centre.
  """
  t = jax.lax.stop_gradient(teacher_logits.astype(jnp.float32))
  return momentum * center + (1 - momentum) * t.reshape(-1, t.shape[-1]).mean(axis=0)


def distill_loss(student_logits: jax.Array, teacher_logits: jax.Array, center: jax.Array, *,
                 student_temp: float = STUDENT_TEMP, teacher_temp: float = TEACHER_TEMP) -> jax.Array:
  """student [Vs, B, K] (global views first, then local), teacher [Vt, B, K] on the Vt global views -> scalar.

  Teacher view i and student view j form a pair when i != j: a view is never its own target.
  """
  vs, vt = student_logits.shape[0], teacher_logits.shape[0]
  if vt > vs:
    raise ValueError(f"the student sees every teacher view: got {vs} student and {vt} teacher views")
  targets = teacher_probs(teacher_logits, center, teacher_temp)
  # [Vt, Vs, B]: every teacher view against every student view, then the diagonal is dropped.
  ce = cross_entropy(student_logits[None], targets[:, None], student_temp).mean(axis=-1)
  pairs = jnp.arange(vt)[:, None] != jnp.arange(vs)[None, :]
  return jnp.sum(jnp.where(pairs, ce, 0.0)) / jnp.sum(pairs)
