"""Multi-crop views (DINO / SILC): random boxes by area and aspect ratio, cropped and resized on device."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from webpairs.pretrain.objectives.silc.augment import ViewAugment, augment_views

GLOBAL_AREA = (0.4, 1.0)
LOCAL_AREA = (0.05, 0.4)
ASPECT = (3 / 4, 4 / 3)


def sample_boxes(key: jax.Array, n: int, area: tuple[float, float] = GLOBAL_AREA,
                 aspect: tuple[float, float] = ASPECT) -> jax.Array:
  """[n, 4] boxes (y0, x0, h, w) as fractions of a square image; a pure function of `key`.

  The area fraction a is uniform in `area` and the aspect ratio r = w/h log-uniform. A box
  of area a and ratio r has w = sqrt(a r), h = sqrt(a / r); it fits (w, h <= 1) iff
  a <= r <= 1/a, so r is drawn from [max(lo, a), min(hi, 1/a)] -- never empty when
  lo <= 1 <= hi -- and both bounds hold exactly without rejection sampling.
  """
  lo, hi = aspect
  if not (0 < area[0] <= area[1] <= 1) or not (0 < lo <= 1 <= hi):
    raise ValueError(f"need 0 < area lo <= hi <= 1 and aspect lo <= 1 <= hi; got area={area}, aspect={aspect}")
  k_area, k_ratio, k_y, k_x = jax.random.split(key, 4)
  a = jax.random.uniform(k_area, (n,), minval=area[0], maxval=area[1])
  log_lo = jnp.log(jnp.maximum(lo, a))
  log_hi = jnp.log(jnp.minimum(hi, 1 / a))
  r = jnp.exp(log_lo + (log_hi - log_lo) * jax.random.uniform(k_ratio, (n,)))
  h = jnp.minimum(jnp.sqrt(a / r), 1.0)
  w = jnp.minimum(jnp.sqrt(a * r), 1.0)
  y0 = jax.random.uniform(k_y, (n,)) * (1 - h)
  x0 = jax.random.uniform(k_x, (n,)) * (1 - w)
  return jnp.stack([y0, x0, h, w], axis=-1)


def crop_resize(images: jax.Array, boxes: jax.Array, size: int) -> jax.Array:
  """images [B, H, W, C] (uint8 or float), boxes [B, 4] fractions -> [B, size, size, C] float32 in the input's range."""
  _, height, width, _ = images.shape

  def one(image: jax.Array, box: jax.Array) -> jax.Array:
    y0, x0, h, w = box
    # Output pixel o samples input coordinate o / scale - translation / scale.
    scale = jnp.stack([size / (h * height), size / (w * width)])
    translation = -jnp.stack([y0 * height, x0 * width]) * scale
    return jax.image.scale_and_translate(image.astype(jnp.float32), (size, size, image.shape[-1]), (0, 1), scale,
                                         translation, method="linear", antialias=True)

  return jax.vmap(one)(images, boxes)


def multi_crop(key: jax.Array, images: jax.Array, *, num_global: int = 2, num_local: int = 4, global_size: int,
               local_size: int, global_area: tuple[float, float] = GLOBAL_AREA,
               local_area: tuple[float, float] = LOCAL_AREA, aspect: tuple[float, float] = ASPECT,
               augment: ViewAugment | None = None) -> tuple[list[jax.Array], list[jax.Array]]:
  """(global views, local views): lists of [B, size, size, C] float images in [-1, 1], one box per image and view,
  each view then flipped and colour-jittered independently when `augment` is given."""
  if images.dtype == jnp.uint8:
    images = images.astype(jnp.float32) / 127.5 - 1.0
  b = images.shape[0]
  n = num_global + num_local
  # Augmentation keys come from a fold of the key, so the boxes stay those of augment=None.
  keys, aug_keys = jax.random.split(key, n), jax.random.split(jax.random.fold_in(key, 1), n)

  def view(i: int, area: tuple[float, float], size: int) -> jax.Array:
    out = crop_resize(images, sample_boxes(keys[i], b, area, aspect), size)
    return out if augment is None else augment_views(aug_keys[i], out, augment)

  return ([view(i, global_area, global_size) for i in range(num_global)],
          [view(i, local_area, local_size) for i in range(num_global, n)])
