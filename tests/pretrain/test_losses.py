"""Sigmoid loss: dense against a naive reference, chunked against dense, the value at init, symmetry and permutation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings, strategies as st

from webpairs.pretrain.objectives import sigmoid
from webpairs.pretrain.models import l2_normalize

GRAD_ARGS = (0, 1, 2, 3)


def embeddings(n: int, d: int = 16, seed: int = 0, pull: float = 0.7) -> tuple[jax.Array, jax.Array]:
  """Normalised pairs where text i leans towards image i, so positives and negatives both matter."""
  rng = np.random.default_rng(seed)
  zimg = rng.normal(size=(n, d))
  ztxt = pull * zimg + rng.normal(size=(n, d))
  return l2_normalize(jnp.asarray(zimg, jnp.float32)), l2_normalize(jnp.asarray(ztxt, jnp.float32))


def naive(zimg, ztxt, t, b):
  logits = t * zimg @ ztxt.T + b
  labels = jnp.eye(zimg.shape[0])  # BCE targets: 1 for the pair, 0 otherwise
  return optax.sigmoid_binary_cross_entropy(logits, labels).sum() / zimg.shape[0]


@pytest.mark.parametrize("n", [1, 7, 32])
def test_dense_equals_optax_bce_reference(n):
  zimg, ztxt = embeddings(n)
  for t, b in [(10.0, -10.0), (3.7, -1.2), (1.0, 0.0)]:
    np.testing.assert_allclose(sigmoid.sigmoid_loss(zimg, ztxt, t, b), naive(zimg, ztxt, t, b), rtol=1e-6, atol=1e-6)
  grads = jax.grad(sigmoid.sigmoid_loss, GRAD_ARGS)(zimg, ztxt, 3.7, -1.2)
  want = jax.grad(naive, GRAD_ARGS)(zimg, ztxt, 3.7, -1.2)
  for g, w in zip(grads, want, strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_dense_is_fp32_for_bf16_embeddings():
  zimg, ztxt = embeddings(8)
  loss = sigmoid.sigmoid_loss(zimg.astype(jnp.bfloat16), ztxt.astype(jnp.bfloat16), 10.0, -10.0)
  assert loss.dtype == jnp.float32


@pytest.mark.parametrize("n,chunk", [(12, 4), (13, 4), (13, 5), (7, 1), (9, 9), (5, 64)])
def test_chunked_equals_dense_values_and_gradients(n, chunk):
  zimg, ztxt = embeddings(n, seed=n)
  t, b = jnp.float32(4.0), jnp.float32(-3.0)
  dense, dense_grads = jax.value_and_grad(sigmoid.sigmoid_loss, GRAD_ARGS)(zimg, ztxt, t, b)
  chunked = lambda *a: sigmoid.chunked_sigmoid_loss(*a, chunk_size=chunk)
  value, grads = jax.jit(jax.value_and_grad(chunked, GRAD_ARGS))(zimg, ztxt, t, b)
  np.testing.assert_allclose(value, dense, rtol=1e-6)
  for g, w in zip(grads, dense_grads, strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n", [1, 4, 16])
def test_orthogonal_embeddings_at_init(n):
  # Every image orthogonal to every text: each logit is b = -10. A positive costs
  # -log sigmoid(-10) = 10.0000454, each of the n-1 negatives -log sigmoid(10) = 4.54e-5.
  eye = jnp.eye(2 * n)
  zimg, ztxt = eye[:n], eye[n:]
  want = 10.0000454 + (n - 1) * 4.54e-5
  for loss in (sigmoid.sigmoid_loss(zimg, ztxt, 10.0, -10.0),
               sigmoid.chunked_sigmoid_loss(zimg, ztxt, 10.0, -10.0, chunk_size=3)):
    np.testing.assert_allclose(loss, want, rtol=1e-6)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**16), t=st.floats(0.5, 30), b=st.floats(-15, 5))
def test_symmetric_in_image_and_text_and_invariant_to_joint_permutation(n, seed, t, b):
  zimg, ztxt = embeddings(n, seed=seed)
  loss = sigmoid.sigmoid_loss(zimg, ztxt, t, b)
  np.testing.assert_allclose(sigmoid.sigmoid_loss(ztxt, zimg, t, b), loss, rtol=1e-5)
  perm = np.random.default_rng(seed).permutation(n)
  np.testing.assert_allclose(sigmoid.sigmoid_loss(zimg[perm], ztxt[perm], t, b), loss, rtol=1e-5)
  if n > 1:  # permuting one side only breaks the pairs, so it must change the loss
    shift = np.roll(np.arange(n), 1)
    assert not np.isclose(sigmoid.sigmoid_loss(zimg, ztxt[shift], t, b), loss, rtol=1e-6)


def test_better_aligned_pairs_have_lower_loss():
  loose, tight = embeddings(16, pull=0.1), embeddings(16, pull=5.0)
  assert sigmoid.sigmoid_loss(*tight, 10.0, -10.0) < sigmoid.sigmoid_loss(*loose, 10.0, -10.0)


def test_get_loss_by_name():
  zimg, ztxt = embeddings(6)
  dense = sigmoid.sigmoid_loss(zimg, ztxt, 2.0, -1.0)
  np.testing.assert_allclose(sigmoid.get_loss("chunked", chunk_size=4)(zimg, ztxt, 2.0, -1.0), dense, rtol=1e-6)
  assert sigmoid.get_loss("dense") is sigmoid.sigmoid_loss
  with pytest.raises(ValueError, match="mesh"):
    sigmoid.get_loss("ring")
  with pytest.raises(ValueError, match="chunk_size"):
    sigmoid.get_loss("chunked")
  with pytest.raises(ValueError, match="unknown loss"):
    sigmoid.get_loss("softmax")
