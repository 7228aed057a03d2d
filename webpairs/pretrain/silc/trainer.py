"""SILC / SigLIP 2 train step: sigmoid loss on global views plus weighted self-distillation and masked prediction.

The state adds {teacher, center, patch_center} to the SigLIP trainer's {step, params, opt,
rng}. The teacher is an EMA of the student's image tower and heads, updated after each
optimiser step and never given to the optimiser; with `switch_step` > 0 (SigLIP 2) the
extra losses are off before that step and the teacher is copied from the student at it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from webpairs.pretrain import trainer as base
from webpairs.pretrain.silc import crops, distill, ema, masking
from webpairs.pretrain.silc.augment import ViewAugment
from webpairs.pretrain.silc.model import SilcModel, teacher_part, with_teacher

# SigLIP 2: the extra losses' weights are multiplied by a factor that grows with the model.
SIZE_FACTORS = {"B": 0.25, "L": 0.5, "So400m": 1.0}


def size_factor(variant: str) -> float:
  """SigLIP 2's weight factor for an image-tower variant ('B/16' -> 0.25); 1.0 for sizes it does not name."""
  return SIZE_FACTORS.get(variant.split("/")[0], 1.0)


def loss_weights(step: jax.Array, silc: Mapping[str, Any]) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(on, distill weight, masked weight) at `step` (the step being taken, counted from 0)."""
  on = step >= int(silc.get("switch_step", 0))
  zero = jnp.zeros((), jnp.float32)
  return (on, jnp.where(on, float(silc["distill_weight"]), zero), jnp.where(on, float(silc["masked_weight"]), zero))


def entropy(p: jax.Array) -> jax.Array:
  return -jnp.sum(p * jnp.log(jnp.clip(p, 1e-12)), axis=-1)


class SilcTrainer(base.Trainer):
  """The SigLIP trainer with the SILC objective; checkpoints, sharding, metrics and the loop are inherited."""

  def model_builder(self, config: ml_collections.ConfigDict, vocab_size: int) -> Callable[[Any], nnx.Module]:
    kwargs = base.model_kwargs(config, vocab_size)
    head = dict(config.silc.head)
    return lambda rng: SilcModel(**kwargs, head=head, rngs=nnx.Rngs(rng))

  def _init_state(self, rng: jax.Array) -> dict[str, Any]:
    state = super()._init_state(rng)
    k = int(self.config.silc.head.get("num_prototypes", 1024))
    # The teacher starts as the student (DINO); SigLIP 2 copies it again at the switch.
    state.update(teacher=teacher_part(state["params"]), center=jnp.zeros((k,), jnp.float32),
                 patch_center=jnp.zeros((k,), jnp.float32))
    return state

  def _train_step(self, state: dict[str, Any], batch: Mapping[str, jax.Array], consts: Any
                  ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    s = self.config.silc
    rng, crop_key, mask_key = jax.random.split(state["rng"], 3)
    on, w_distill, w_masked = loss_weights(state["step"], s)
    switch = state["step"] == int(s.get("switch_step", 0))
    teacher = jax.tree.map(lambda new, old: jnp.where(switch, new, old), teacher_part(state["params"]),
                           state["teacher"])

    res = self.config.input.res
    global_views, local_views = crops.multi_crop(
        crop_key, batch["image"], num_global=s.num_global, num_local=s.num_local, global_size=res,
        local_size=s.local_res, global_area=tuple(s.global_area), local_area=tuple(s.local_area),
        aspect=tuple(s.aspect), augment=ViewAugment.from_config(s.get("augment")))
    vg, b = len(global_views), batch["image"].shape[0]
    images = jnp.concatenate(global_views)  # [Vg*B, ...]: one pass of the tower for all global views

    # The teacher sees the full global views; no gradient reaches it (with_teacher cuts it).
    _, t_img, t_patch = self._model(with_teacher(state["params"], teacher), consts).encode_image(images)
    t_img = t_img.reshape(vg, b, -1)
    use_masked = float(s.masked_weight) > 0
    patch_mask = None
    if use_masked:
      patch_mask = masking.random_patch_mask(mask_key, vg * b, t_patch.shape[1], float(s.mask_ratio))

    def loss_of(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
      model = self._model(params, consts)
      _, ztxt, extras = model(None, batch["text"])
      zimg, s_img, _ = model.encode_image(images)
      zimg = zimg.reshape(vg, b, -1)
      sig = sum(self.loss_fn(zimg[v], ztxt, extras["t"], extras["b"]) for v in range(vg)) / vg
      student = [s_img.reshape(vg, b, -1)]
      if local_views:
        _, s_local, _ = model.encode_image(jnp.concatenate(local_views))
        student.append(s_local.reshape(len(local_views), b, -1))
      dist = distill.distill_loss(jnp.concatenate(student), t_img, state["center"], student_temp=s.student_temp,
                                  teacher_temp=s.teacher_temp)
      total = sig + w_distill * dist
      aux = {"sigmoid_loss": sig, "distill_loss": dist, "t": extras["t"], "b": extras["b"]}
      if use_masked:
        _, _, s_patch = model.encode_image(images, patch_mask)
        masked = masking.masked_prediction_loss(s_patch, t_patch, state["patch_center"], patch_mask,
                                                student_temp=s.student_temp, teacher_temp=s.teacher_temp)
        total = total + w_masked * masked
        aux["masked_loss"] = masked
      return total, aux

    (loss, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(state["params"])
    updates, opt = self.tx.update(grads, state["opt"], state["params"])
    params = optax.apply_updates(state["params"], updates)

    # After the optimiser step: the teacher follows the updated student, and the centres
    # follow the teacher outputs of this step. Before a SigLIP 2 switch both stand still.
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(on, n, o), new, old)
    teacher = keep(ema.ema_update(teacher, teacher_part(params), float(s.teacher_momentum)), teacher)
    center = keep(distill.update_center(state["center"], t_img, float(s.center_momentum)), state["center"])
    patch_center = state["patch_center"]
    if use_masked:
      patch_center = keep(distill.update_center(patch_center, t_patch, float(s.center_momentum)), patch_center)

    k = t_img.shape[-1]
    probs = distill.teacher_probs(t_img, state["center"], s.teacher_temp)
    grad_norm = optax.tree.norm(grads)
    out = {
        "loss": loss,
        **{k_: v for k_, v in aux.items()},
        "distill_weight": w_distill,
        "masked_weight": w_masked,
        "grad_norm": grad_norm,
        "param_norm": optax.tree.norm(params),
        "lr": self.schedule(state["step"]),
        # Collapse monitors, as fractions of log K: the mean per-image entropy of the
        # teacher targets, and the entropy of their batch mean (0 if every image picks
        # the same prototype, 1 if all prototypes are used evenly).
        "teacher_entropy": entropy(probs).mean() / jnp.log(k),
        "teacher_marginal_entropy": entropy(probs.reshape(-1, k).mean(axis=0)) / jnp.log(k),
        "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm),
    }
    new_state = {"step": state["step"] + 1, "params": params, "opt": opt, "rng": rng, "teacher": teacher,
                 "center": center, "patch_center": patch_center}
    return new_state, out
