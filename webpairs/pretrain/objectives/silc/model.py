"""The SILC student: SigLIP two towers (or SigLIP 2's, with a LocCa decoder) plus DINO heads on the image tower
(pooled and per patch) and a mask token."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from webpairs.pretrain.models.siglip2 import SigLIP2
from webpairs.pretrain.models.two_towers import TwoTowers, l2_normalize
from webpairs.pretrain.objectives.silc.dino_head import DINOHead

# The parts of the student that the EMA teacher mirrors (top-level keys of the params dict,
# with "towers" restricted to its image tower): the text tower has no teacher.
TEACHER_KEYS = ("head", "patch_head")


class SilcModel(nnx.Module):
  """(image, text) -> (zimg, ztxt, extras) as TwoTowers; `image_heads` gives the self-distillation logits."""

  def __init__(self, *, image: Mapping[str, Any], text: Mapping[str, Any], head: Mapping[str, Any] | None = None,
               decoder: Mapping[str, Any] | None = None, out_dim: int | None = None, temperature_init: float = 10.0,
               bias_init: float = -10.0, dtype: Any = "float32", remat: bool = False, rngs: nnx.Rngs):
    # decoder given: SigLIP 2's towers, whose image tower a LocCa decoder also reads.
    towers = {"image": image, "text": text, "out_dim": out_dim, "temperature_init": temperature_init,
              "bias_init": bias_init, "dtype": dtype, "remat": remat, "rngs": rngs}
    self.towers = TwoTowers(**towers) if decoder is None else SigLIP2(**towers, decoder=decoder)
    width = self.towers.img.width
    head = dict(head or {})
    self.head = DINOHead(width, **head, dtype=dtype, rngs=rngs)
    self.patch_head = DINOHead(width, **head, dtype=dtype, rngs=rngs)  # TIPS: a separate head for patches
    self.mask_token = nnx.Param(jnp.zeros((width,), jnp.float32))

  def __call__(self, image: jax.Array | None = None, text: jax.Array | None = None):
    return self.towers(image, text)

  # The Captioner's interface, when the towers have a decoder (captioner evals of a SigLIP 2 run).
  @property
  def decoder(self) -> nnx.Module:
    return self.towers.decoder

  def encode(self, image: jax.Array) -> jax.Array:
    return self.towers.encode(image)

  def encode_image(self, image: jax.Array, patch_mask: jax.Array | None = None
                   ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """image [B, h, w, 3] at any multiple of the patch size -> (zimg [B, D] normalised, image logits [B, K],
    patch logits [B, N, K]); one pass of the image tower serves the sigmoid loss and both heads."""
    zimg, extras = self.towers.img(image, patch_mask=patch_mask,
                                   mask_token=self.mask_token[...] if patch_mask is not None else None)
    return l2_normalize(zimg), self.head(extras["pre_logits"]), self.patch_head(extras["encoded"])


def teacher_part(params: Mapping[str, Any]) -> dict[str, Any]:
  """The teacher's share of a SilcModel's pure params dict: image tower and both heads."""
  return {"towers": {"img": params["towers"]["img"]}, **{k: params[k] for k in TEACHER_KEYS}}


def with_teacher(params: Mapping[str, Any], teacher: Mapping[str, Any]) -> dict[str, Any]:
  """The student's params with the teacher's parts swapped in (and cut off from gradients): a full model to merge."""
  teacher = jax.lax.stop_gradient(teacher)
  return {**params, "towers": {**params["towers"], "img": teacher["towers"]["img"]},
          **{k: teacher[k] for k in TEACHER_KEYS}}
