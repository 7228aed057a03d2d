"""SILC / SigLIP 2 train step: an image-text loss plus weighted self-distillation and masked prediction.

The state adds {teacher, center, patch_center} to the SigLIP trainer's {step, params, opt,
rng}. The teacher is an EMA of the student's image tower and heads, updated after each
optimiser step and never given to the optimiser; with `switch_step` > 0 (SigLIP 2) the
extra losses are off before that step and the teacher is copied from the student at it.
SILC puts the sigmoid loss on each global view; SigLIP 2 its image-text objective (sigmoid
+ LocCa) on the input images, with the views only for the extra losses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from webpairs.pretrain import objectives
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


# Where the image-text loss looks (silc.image_text_on): SILC's global views, or SigLIP 2's input images.
GLOBAL_VIEWS, IMAGE = "global_views", "image"


def entropy(p: jax.Array) -> jax.Array:
  return -jnp.sum(p * jnp.log(jnp.clip(p, 1e-12)), axis=-1)


class SilcTrainer(base.Trainer):
  """The SigLIP trainer with the SILC objective; checkpoints, sharding, metrics and the loop are inherited.

  silc.image_text_on picks where the image-text loss looks: `global_views` (SILC: the
  sigmoid loss on each global view, sharing the student's pass with self-distillation) or
  `image` (SigLIP 2: the configured objective, e.g. sigmoid + LocCa, on the batch's images as
  the input pipeline made them, and self-distillation on views computed only from the switch on).
  """

  def __init__(self, config: ml_collections.ConfigDict, **kwargs: Any):
    mode = config.silc.get("image_text_on", GLOBAL_VIEWS)
    if mode not in (GLOBAL_VIEWS, IMAGE):
      raise ValueError(f"silc.image_text_on must be {GLOBAL_VIEWS!r} or {IMAGE!r}, got {mode!r}")
    if mode == GLOBAL_VIEWS and objectives.build(config.loss) is not None:
      raise ValueError(f"the {config.loss['name']} objective runs on the batch's images: set "
                       f"silc.image_text_on={IMAGE!r} (global views take a sigmoid loss only)")
    self.image_text_on = mode
    super().__init__(config, **kwargs)

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

  # Pieces of both steps (traced under jit).

  def _views(self, key: jax.Array, image: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
    """(global views stacked [Vg*B, res, res, 3]: one pass of the tower for all, local views)."""
    s = self.config.silc
    global_views, local_views = crops.multi_crop(
        key, image, num_global=s.num_global, num_local=s.num_local, global_size=self.config.input.res,
        local_size=s.local_res, global_area=tuple(s.global_area), local_area=tuple(s.local_area),
        aspect=tuple(s.aspect), augment=ViewAugment.from_config(s.get("augment")))
    return jnp.concatenate(global_views), local_views

  def _teacher_outputs(self, params: Any, teacher: Any, consts: Any, images: jax.Array, key: jax.Array
                       ) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """(teacher image logits [Vg, B, K], patch logits [Vg*B, N, K], patch mask or None when masked prediction
    is off). The teacher sees the full global views; no gradient reaches it (with_teacher cuts it)."""
    s = self.config.silc
    _, t_img, t_patch = self._model(with_teacher(params, teacher), consts).encode_image(images)
    t_img = t_img.reshape(int(s.num_global), -1, t_img.shape[-1])
    patch_mask = None
    if float(s.masked_weight) > 0:
      patch_mask = masking.random_patch_mask(key, images.shape[0], t_patch.shape[1], float(s.mask_ratio))
    return t_img, t_patch, patch_mask

  def _self_distill(self, model: SilcModel, s_img: jax.Array, local_views: list[jax.Array], images: jax.Array,
                    teacher_out: tuple[jax.Array, jax.Array, jax.Array | None], state: Mapping[str, Any]
                    ) -> dict[str, jax.Array]:
    """{distill_loss, masked_loss (when on)} of the student: s_img [Vg, B, K] its logits on the global views."""
    s = self.config.silc
    t_img, t_patch, patch_mask = teacher_out
    student = [s_img]
    if local_views:
      _, s_local, _ = model.encode_image(jnp.concatenate(local_views))
      student.append(s_local.reshape(len(local_views), -1, s_local.shape[-1]))
    out = {"distill_loss": distill.distill_loss(jnp.concatenate(student), t_img, state["center"],
                                                student_temp=s.student_temp, teacher_temp=s.teacher_temp)}
    if patch_mask is not None:
      _, _, s_patch = model.encode_image(images, patch_mask)
      out["masked_loss"] = masking.masked_prediction_loss(s_patch, t_patch, state["patch_center"], patch_mask,
                                                          student_temp=s.student_temp, teacher_temp=s.teacher_temp)
    return out

  def _centres(self, state: Mapping[str, Any], teacher_out: tuple[jax.Array, jax.Array, jax.Array | None]
               ) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """(centre, patch centre) moved towards this step's teacher logits, and the collapse monitors."""
    s = self.config.silc
    t_img, t_patch, patch_mask = teacher_out
    center = distill.update_center(state["center"], t_img, float(s.center_momentum))
    patch_center = state["patch_center"]
    if patch_mask is not None:
      patch_center = distill.update_center(patch_center, t_patch, float(s.center_momentum))
    k = t_img.shape[-1]
    probs = distill.teacher_probs(t_img, state["center"], s.teacher_temp)
    # As fractions of log K: the mean per-image entropy of the teacher targets, and the
    # entropy of their batch mean (0 if every image picks the same prototype, 1 if all
    # prototypes are used evenly).
    monitors = {"teacher_entropy": entropy(probs).mean() / jnp.log(k),
                "teacher_marginal_entropy": entropy(probs.reshape(-1, k).mean(axis=0)) / jnp.log(k)}
    return center, patch_center, monitors

  def _finish(self, state: Mapping[str, Any], grads: Any, loss: jax.Array, aux: Mapping[str, jax.Array],
              rng: jax.Array, teacher: Any, center: jax.Array, patch_center: jax.Array
              ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """The optimiser step, then the teacher's EMA towards the updated student (from the switch on)."""
    on, w_distill, w_masked = loss_weights(state["step"], self.config.silc)
    updates, opt = self.tx.update(grads, state["opt"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    new_teacher = ema.ema_update(teacher, teacher_part(params), float(self.config.silc.teacher_momentum))
    teacher = jax.tree.map(lambda n, o: jnp.where(on, n, o), new_teacher, teacher)
    grad_norm = optax.tree.norm(grads)
    out = {
        "loss": loss,
        **aux,
        "distill_weight": w_distill,
        "masked_weight": w_masked,
        "grad_norm": grad_norm,
        "param_norm": optax.tree.norm(params),
        "lr": self.schedule(state["step"]),
        "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm),
    }
    new_state = {"step": state["step"] + 1, "params": params, "opt": opt, "rng": rng, "teacher": teacher,
                 "center": center, "patch_center": patch_center}
    return new_state, out

  def _teacher_now(self, state: Mapping[str, Any]) -> Any:
    """The step's teacher: the student itself at the switch step (SigLIP 2), else the state's EMA."""
    switch = state["step"] == int(self.config.silc.get("switch_step", 0))
    return jax.tree.map(lambda new, old: jnp.where(switch, new, old), teacher_part(state["params"]),
                        state["teacher"])

  # The steps.

  def _train_step(self, state: dict[str, Any], batch: Mapping[str, jax.Array], consts: Any
                  ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    if self.image_text_on == IMAGE:
      return self._staged_step(state, batch, consts)
    s = self.config.silc
    rng, crop_key, mask_key = jax.random.split(state["rng"], 3)
    on, w_distill, w_masked = loss_weights(state["step"], s)
    teacher = self._teacher_now(state)
    images, local_views = self._views(crop_key, batch["image"])
    vg, b = int(s.num_global), batch["image"].shape[0]
    teacher_out = self._teacher_outputs(state["params"], teacher, consts, images, mask_key)

    def loss_of(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
      model = self._model(params, consts)
      _, ztxt, extras = model(None, batch["text"])
      zimg, s_img, _ = model.encode_image(images)  # one pass for the sigmoid loss and self-distillation
      zimg = zimg.reshape(vg, b, -1)
      sig = sum(self.loss_fn(zimg[v], ztxt, extras["t"], extras["b"]) for v in range(vg)) / vg
      terms = self._self_distill(model, s_img.reshape(vg, b, -1), local_views, images, teacher_out, state)
      total = sig + w_distill * terms["distill_loss"] + w_masked * terms.get("masked_loss", 0.0)
      return total, {"sigmoid_loss": sig, **terms, "t": extras["t"], "b": extras["b"]}

    (loss, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(state["params"])
    # The centres follow this step's teacher outputs; before a SigLIP 2 switch they stand still.
    center, patch_center, monitors = self._centres(state, teacher_out)
    center = jnp.where(on, center, state["center"])
    patch_center = jnp.where(on, patch_center, state["patch_center"])
    return self._finish(state, grads, loss, {**aux, **monitors}, rng, teacher, center, patch_center)

  def _staged_step(self, state: dict[str, Any], batch: Mapping[str, jax.Array], consts: Any
                   ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """SigLIP 2: the image-text objective on the batch's images, one tower pass for all its parts; from the switch
    on, self-distillation and masked prediction on views as well. A lax.cond runs the views, the teacher and their
    gradients only from the switch on, so the first stage costs what its own losses cost; before it the
    self-distillation terms, their gradients and the monitors are 0."""
    s = self.config.silc
    rng, crop_key, mask_key, loss_key = jax.random.split(state["rng"], 4)
    on, w_distill, w_masked = loss_weights(state["step"], s)
    teacher = self._teacher_now(state)
    image_text = lambda params: self._loss(self._model(params, consts).towers, batch, loss_key)
    (loss, aux), grads = jax.value_and_grad(image_text, has_aux=True)(state["params"])

    def distill_on(params: Any) -> tuple[jax.Array, dict[str, jax.Array], Any, jax.Array, jax.Array]:
      images, local_views = self._views(crop_key, batch["image"])
      teacher_out = self._teacher_outputs(params, teacher, consts, images, mask_key)

      def loss_of(p: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
        model = self._model(p, consts)
        _, s_img, _ = model.encode_image(images)
        terms = self._self_distill(model, s_img.reshape(int(s.num_global), -1, s_img.shape[-1]), local_views,
                                   images, teacher_out, state)
        return w_distill * terms["distill_loss"] + w_masked * terms.get("masked_loss", 0.0), terms

      (total, terms), g = jax.value_and_grad(loss_of, has_aux=True)(params)
      center, patch_center, monitors = self._centres(state, teacher_out)
      return total, {**terms, **monitors}, g, center, patch_center

    def distill_off(params: Any) -> tuple[jax.Array, dict[str, jax.Array], Any, jax.Array, jax.Array]:
      total, metrics, g, _, _ = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(distill_on, params))
      return total, metrics, g, state["center"], state["patch_center"]

    sd_loss, sd_metrics, sd_grads, center, patch_center = jax.lax.cond(on, distill_on, distill_off, state["params"])
    grads = jax.tree.map(jnp.add, grads, sd_grads)
    aux = {"image_text_loss": loss, **aux, **sd_metrics}
    return self._finish(state, grads, loss + sd_loss, aux, rng, teacher, center, patch_center)
