"""TIPS / iBOT masked prediction: random patch masks of a fixed share, and the per-patch distillation loss on them."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from webpairs.pretrain.objectives.silc import distill

MASK_RATIO = 0.5


def random_patch_mask(key: jax.Array, batch: int, num_patches: int, ratio: float = MASK_RATIO) -> jax.Array:
  """[batch, num_patches] bool with exactly floor(ratio * num_patches) True per row, positions uniform at random.

  The rank of each patch under i.i.d. uniform scores is a uniform random permutation;
  masking the lowest ranks masks a uniformly random subset of the exact size.
  """
  if not 0 <= ratio <= 1:
    raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
  count = int(ratio * num_patches)  # floor for ratio >= 0
  ranks = jnp.argsort(jnp.argsort(jax.random.uniform(key, (batch, num_patches)), axis=-1), axis=-1)
  return ranks < count


def masked_prediction_loss(student_logits: jax.Array, teacher_logits: jax.Array, center: jax.Array,
                           mask: jax.Array, *, student_temp: float = distill.STUDENT_TEMP,
                           teacher_temp: float = distill.TEACHER_TEMP) -> jax.Array:
  """student/teacher [B, N, K] per-patch logits, mask [B, N] -> mean cross-entropy over the masked patches only.

  The student saw mask tokens at the masked positions and the teacher the full image,
  so the student must predict the teacher's output for content it could not see.
  Unmasked positions get weight 0: their logits cannot change the loss.
  """
  targets = distill.teacher_probs(teacher_logits, center, teacher_temp)
  ce = distill.cross_entropy(student_logits, targets, student_temp)
  weight = mask.astype(jnp.float32)
  # A where() as well as the weight: 0 * inf at an unmasked position would still give NaN.
  return jnp.sum(jnp.where(mask, ce, 0.0)) / jnp.maximum(jnp.sum(weight), 1.0)
