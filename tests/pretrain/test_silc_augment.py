"""SILC view augmentation: closed-form colour ops, flips as mirrors, determinism, range, config checking."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from webpairs.pretrain.objectives.silc import augment, crops
from webpairs.pretrain.objectives.silc.augment import ViewAugment

OFF = ViewAugment(flip=False, jitter_prob=0.0)


def _images(b=6, size=8, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (b, size, size, 3), minval=-1.0, maxval=1.0)


def test_colour_ops_match_their_formulas():
  x = jnp.array([[[[0.2, 0.4, 0.6]], [[0.8, 0.0, 0.5]]]])  # [1, 2, 1, 3]
  f = jnp.array([1.5])
  np.testing.assert_allclose(augment.adjust_brightness(x, f), x * 1.5, rtol=1e-6)
  g = 0.299 * x[..., 0:1] + 0.587 * x[..., 1:2] + 0.114 * x[..., 2:3]
  np.testing.assert_allclose(augment.adjust_saturation(x, f), g + 1.5 * (x - g), rtol=1e-6)
  m = float(g.mean())
  np.testing.assert_allclose(augment.adjust_contrast(x, f), m + 1.5 * (x - m), rtol=1e-6)


def test_saturation_zero_is_grey_and_one_is_identity():
  x = (_images() + 1) / 2
  ones, zeros = jnp.ones(x.shape[0]), jnp.zeros(x.shape[0])
  np.testing.assert_allclose(augment.adjust_saturation(x, ones), x, atol=1e-6)
  grey = augment.adjust_saturation(x, zeros)
  np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)


def test_everything_off_is_the_identity():
  x = _images()
  np.testing.assert_allclose(augment.augment_views(jax.random.PRNGKey(3), x, OFF), x, atol=1e-6)


def test_flip_only_mirrors_about_half_the_images():
  x = _images(b=64)
  out = augment.augment_views(jax.random.PRNGKey(1), x, ViewAugment(flip=True, jitter_prob=0.0))
  same = np.asarray(jnp.all(jnp.abs(out - x) < 1e-6, axis=(1, 2, 3)))
  mirrored = np.asarray(jnp.all(jnp.abs(out - x[:, :, ::-1]) < 1e-6, axis=(1, 2, 3)))
  assert np.all(same ^ mirrored)  # each image is exactly itself or exactly its mirror
  assert 16 <= mirrored.sum() <= 48  # Binomial(64, 1/2) within 4 sigma


def test_random_augment_is_deterministic_per_key_and_stays_in_range():
  x = _images(b=32)
  aug = ViewAugment(grayscale_prob=0.5, brightness=1.0, contrast=1.0, saturation=1.0)
  a = augment.augment_views(jax.random.PRNGKey(7), x, aug)
  np.testing.assert_array_equal(a, augment.augment_views(jax.random.PRNGKey(7), x, aug))
  assert not np.allclose(a, augment.augment_views(jax.random.PRNGKey(8), x, aug))
  assert float(a.min()) >= -1.0 and float(a.max()) <= 1.0
  grey = np.asarray(jnp.all(jnp.abs(a[..., 0] - a[..., 1]) < 1e-6, axis=(1, 2)))
  assert 0 < grey.sum() < 32


def test_multi_crop_boxes_do_not_depend_on_augmentation():
  x = _images(b=4, size=16)
  key = jax.random.PRNGKey(5)
  plain, _ = crops.multi_crop(key, x, num_global=2, num_local=1, global_size=8, local_size=4)
  off, _ = crops.multi_crop(key, x, num_global=2, num_local=1, global_size=8, local_size=4, augment=OFF)
  on, _ = crops.multi_crop(key, x, num_global=2, num_local=1, global_size=8, local_size=4,
                           augment=ViewAugment(flip=True, jitter_prob=0.0))
  for p, o, a in zip(plain, off, on):
    np.testing.assert_allclose(p, o, atol=1e-6)
    # Flip-only: every image is its plain view or that view's mirror.
    ok = jnp.all(jnp.abs(a - p) < 1e-5, axis=(1, 2, 3)) | jnp.all(jnp.abs(a - p[:, :, ::-1]) < 1e-5, axis=(1, 2, 3))
    assert bool(ok.all())


def test_from_config():
  assert ViewAugment.from_config(None) is None and ViewAugment.from_config({}) is None
  cfg = ml_collections.ConfigDict({"flip": False, "brightness": 0.1})
  assert ViewAugment.from_config(cfg) == ViewAugment(flip=False, brightness=0.1)
  with pytest.raises(ValueError, match="unknown silc.augment keys"):
    ViewAugment.from_config({"hue": 0.1})
  with pytest.raises(ValueError, match="jitter_prob"):
    ViewAugment(jitter_prob=1.5)
