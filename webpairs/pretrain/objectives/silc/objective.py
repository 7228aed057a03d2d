"""SILC / SigLIP 2 objectives: an image-text loss plus weighted self-distillation and masked prediction.

Their extra state, carried in the train state beside {step, params, opt, rng}, is {teacher,
center, patch_center}. The teacher is an EMA of the student's image tower and heads, updated
after each optimiser step and never given to the optimiser; with `switch_step` > 0 (SigLIP 2)
the extra losses are off before that step and the teacher is copied from the student at it.
SILC puts the sigmoid loss on each global view; SigLIP 2 its image-text objective (sigmoid +
LocCa) on the input images, with the views only for the extra losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from webpairs.pretrain.objectives import base, siglip_locca
from webpairs.pretrain.objectives.sigmoid import LossFn
from webpairs.pretrain.objectives.silc import crops, distill, ema, masking
from webpairs.pretrain.objectives.silc.augment import ViewAugment
from webpairs.pretrain.objectives.silc.model import SilcModel, teacher_part, with_teacher

# SigLIP 2: the extra losses' weights are multiplied by a factor that grows with the model.
SIZE_FACTORS = {"B": 0.25, "L": 0.5, "So400m": 1.0}
TeacherOut = tuple[jax.Array, jax.Array, jax.Array | None]


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


class SelfDistillation(base.Objective):
  """What SILC and SigLIP 2 share: the model with DINO heads, the teacher and centres as extra state, views.

  silc: the config's silc block (configs/pretrain/silc.py); image_size: the global views' side
  (config.input.res).
  """

  def __init__(self, silc: Mapping[str, Any], *, image_size: int):
    self.silc, self.image_size = silc, int(image_size)

  def init_extra(self, params: Any, rng: jax.Array) -> dict[str, Any]:
    k = int(self.silc.head.get("num_prototypes", 1024))
    # The teacher starts as the student (DINO); SigLIP 2 copies it again at the switch.
    return {"teacher": teacher_part(params), "center": jnp.zeros((k,), jnp.float32),
            "patch_center": jnp.zeros((k,), jnp.float32)}

  # Pieces of both steps.

  def _views(self, key: jax.Array, image: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
    """(global views stacked [Vg*B, res, res, 3]: one pass of the tower for all, local views)."""
    s = self.silc
    global_views, local_views = crops.multi_crop(
        key, image, num_global=s.num_global, num_local=s.num_local, global_size=self.image_size,
        local_size=s.local_res, global_area=tuple(s.global_area), local_area=tuple(s.local_area),
        aspect=tuple(s.aspect), augment=ViewAugment.from_config(s.get("augment")))
    return jnp.concatenate(global_views), local_views

  def _teacher_outputs(self, model_of: Callable[[Any], Any], params: Any, teacher: Any, images: jax.Array,
                       key: jax.Array) -> TeacherOut:
    """(teacher image logits [Vg, B, K], patch logits [Vg*B, N, K], patch mask or None when masked prediction
    is off). The teacher sees the full global views; no gradient reaches it (with_teacher cuts it)."""
    s = self.silc
    _, t_img, t_patch = model_of(with_teacher(params, teacher)).encode_image(images)
    t_img = t_img.reshape(int(s.num_global), -1, t_img.shape[-1])
    patch_mask = None
    if float(s.masked_weight) > 0:
      patch_mask = masking.random_patch_mask(key, images.shape[0], t_patch.shape[1], float(s.mask_ratio))
    return t_img, t_patch, patch_mask

  def _self_distill(self, model: SilcModel, s_img: jax.Array, local_views: list[jax.Array], images: jax.Array,
                    teacher_out: TeacherOut, extra: Mapping[str, Any]) -> dict[str, jax.Array]:
    """{distill_loss, masked_loss (when on)} of the student: s_img [Vg, B, K] its logits on the global views."""
    s = self.silc
    t_img, t_patch, patch_mask = teacher_out
    student = [s_img]
    if local_views:
      _, s_local, _ = model.encode_image(jnp.concatenate(local_views))
      student.append(s_local.reshape(len(local_views), -1, s_local.shape[-1]))
    out = {"distill_loss": distill.distill_loss(jnp.concatenate(student), t_img, extra["center"],
                                                student_temp=s.student_temp, teacher_temp=s.teacher_temp)}
    if patch_mask is not None:
      _, _, s_patch = model.encode_image(images, patch_mask)
      out["masked_loss"] = masking.masked_prediction_loss(s_patch, t_patch, extra["patch_center"], patch_mask,
                                                          student_temp=s.student_temp, teacher_temp=s.teacher_temp)
    return out

  def _centres(self, extra: Mapping[str, Any], teacher_out: TeacherOut
               ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """(centre, patch centre) moved towards this step's teacher logits, and the collapse monitors."""
    s = self.silc
    t_img, t_patch, patch_mask = teacher_out
    center = distill.update_center(extra["center"], t_img, float(s.center_momentum))
    patch_center = extra["patch_center"]
    if patch_mask is not None:
      patch_center = distill.update_center(patch_center, t_patch, float(s.center_momentum))
    k = t_img.shape[-1]
    probs = distill.teacher_probs(t_img, extra["center"], s.teacher_temp)
    # As fractions of log K: the mean per-image entropy of the teacher targets, and the
    # entropy of their batch mean (0 if every image picks the same prototype, 1 if all
    # prototypes are used evenly).
    monitors = {"teacher_entropy": entropy(probs).mean() / jnp.log(k),
                "teacher_marginal_entropy": entropy(probs.reshape(-1, k).mean(axis=0)) / jnp.log(k)}
    return center, patch_center, monitors

  def _teacher_now(self, params: Any, extra: Mapping[str, Any], step: jax.Array) -> Any:
    """The step's teacher: the student itself at the switch step (SigLIP 2), else the state's EMA."""
    switch = step == int(self.silc.get("switch_step", 0))
    return jax.tree.map(lambda new, old: jnp.where(switch, new, old), teacher_part(params), extra["teacher"])

  def update_extra(self, extra: Mapping[str, Any], params: Any, step: jax.Array, pending: Any) -> dict[str, Any]:
    """The teacher's EMA towards the updated student (from the switch on); the centres loss_and_grads moved."""
    on, teacher, center, patch_center = pending
    new_teacher = ema.ema_update(teacher, teacher_part(params), float(self.silc.teacher_momentum))
    teacher = jax.tree.map(lambda n, o: jnp.where(on, n, o), new_teacher, teacher)
    return {"teacher": teacher, "center": center, "patch_center": patch_center}



class Silc(SelfDistillation):
  """SILC: the sigmoid loss (dense, ring or chunked) on each global view, sharing the student's pass with
  self-distillation."""

  num_keys = 2  # crops, patch mask

  def __init__(self, silc: Mapping[str, Any], *, image_size: int, sigmoid: LossFn):
    super().__init__(silc, image_size=image_size)
    self.sigmoid = sigmoid

  def loss_and_grads(self, model_of: Callable[[Any], Any], params: Any, batch: Mapping[str, jax.Array],
                     rng: jax.Array, extra: Mapping[str, Any], step: jax.Array) -> base.Step:
    s = self.silc
    crop_key, mask_key = rng
    on, w_distill, w_masked = loss_weights(step, s)
    teacher = self._teacher_now(params, extra, step)
    images, local_views = self._views(crop_key, batch["image"])
    vg, b = int(s.num_global), batch["image"].shape[0]
    teacher_out = self._teacher_outputs(model_of, params, teacher, images, mask_key)

    def loss_of(p: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
      model = model_of(p)
      _, ztxt, extras = model(None, batch["text"])
      zimg, s_img, _ = model.encode_image(images)  # one pass for the sigmoid loss and self-distillation
      zimg = zimg.reshape(vg, b, -1)
      sig = sum(self.sigmoid(zimg[v], ztxt, extras["t"], extras["b"]) for v in range(vg)) / vg
      terms = self._self_distill(model, s_img.reshape(vg, b, -1), local_views, images, teacher_out, extra)
      total = sig + w_distill * terms["distill_loss"] + w_masked * terms.get("masked_loss", 0.0)
      return total, {"sigmoid_loss": sig, **terms, "t": extras["t"], "b": extras["b"]}

    (loss, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
    # The centres follow this step's teacher outputs; before a SigLIP 2 switch they stand still.
    center, patch_center, monitors = self._centres(extra, teacher_out)
    center = jnp.where(on, center, extra["center"])
    patch_center = jnp.where(on, patch_center, extra["patch_center"])
    metrics = {**aux, **monitors, "distill_weight": w_distill, "masked_weight": w_masked}
    return loss, metrics, grads, (on, teacher, center, patch_center)


class SigLIP2(SelfDistillation):
  """SigLIP 2: the image-text objective (sigmoid + LocCa) on the batch's images, one tower pass for all its parts;
  from the switch on, self-distillation and masked prediction on views as well.

  A lax.cond runs the views, the teacher and their gradients only from the switch on, so the
  first stage costs what its own losses cost; before it the self-distillation terms, their
  gradients and the monitors are 0.
  """

  needs_regions = True
  num_keys = 3  # crops, patch mask, the image-text objective

  def __init__(self, silc: Mapping[str, Any], *, image_size: int, image_text: siglip_locca.SigLIPLocCa):
    super().__init__(silc, image_size=image_size)
    self.image_text = image_text

  def loss_and_grads(self, model_of: Callable[[Any], Any], params: Any, batch: Mapping[str, jax.Array],
                     rng: jax.Array, extra: Mapping[str, Any], step: jax.Array) -> base.Step:
    s = self.silc
    crop_key, mask_key, loss_key = rng
    on, w_distill, w_masked = loss_weights(step, s)
    teacher = self._teacher_now(params, extra, step)
    image_text = lambda p: self.image_text.loss(model_of(p).towers, batch, loss_key)
    (loss, aux), grads = jax.value_and_grad(image_text, has_aux=True)(params)

    def distill_on(p0: Any) -> tuple[jax.Array, dict[str, jax.Array], Any, jax.Array, jax.Array]:
      images, local_views = self._views(crop_key, batch["image"])
      teacher_out = self._teacher_outputs(model_of, p0, teacher, images, mask_key)

      def loss_of(p: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
        model = model_of(p)
        _, s_img, _ = model.encode_image(images)
        terms = self._self_distill(model, s_img.reshape(int(s.num_global), -1, s_img.shape[-1]), local_views,
                                   images, teacher_out, extra)
        return w_distill * terms["distill_loss"] + w_masked * terms.get("masked_loss", 0.0), terms

      (total, terms), g = jax.value_and_grad(loss_of, has_aux=True)(p0)
      center, patch_center, monitors = self._centres(extra, teacher_out)
      return total, {**terms, **monitors}, g, center, patch_center

    def distill_off(p0: Any) -> tuple[jax.Array, dict[str, jax.Array], Any, jax.Array, jax.Array]:
      total, metrics, g, _, _ = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(distill_on, p0))
      return total, metrics, g, extra["center"], extra["patch_center"]

    sd_loss, sd_metrics, sd_grads, center, patch_center = jax.lax.cond(on, distill_on, distill_off, params)
    grads = jax.tree.map(jnp.add, grads, sd_grads)
    metrics = {"image_text_loss": loss, **aux, **sd_metrics, "distill_weight": w_distill, "masked_weight": w_masked}
    return loss + sd_loss, metrics, grads, (on, teacher, center, patch_center)
