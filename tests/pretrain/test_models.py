"""Models: named variants, parameter counts, pooling, position embeddings, dtypes, the two-tower outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from webpairs.pretrain import models
from webpairs.pretrain.models import vit as vit_lib


def _count(module: nnx.Module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def _run(build, *inputs, seed: int = 0):
  """Applies the model `build` makes, with random parameters drawn by numpy.

  Initialising for real (hundreds of eager RNG ops, or one big compile of them) costs
  seconds per model on CPU; these tests are about shapes and wiring, not init.
  """
  graphdef, state = nnx.split(nnx.eval_shape(build))
  rng = np.random.default_rng(seed)
  state = jax.tree.map(lambda x: (0.1 * rng.normal(size=x.shape)).astype(x.dtype), state)
  return jax.jit(lambda state, *xs: nnx.merge(graphdef, state)(*xs))(state, *inputs)


def test_decode_variant():
  assert models.decode_variant("B/16") == dict(width=768, depth=12, mlp_dim=3072, num_heads=12, patch_size=(16, 16))
  assert models.decode_variant("So400m/14")["width"] == 1152
  assert "patch_size" not in models.decode_variant("mu")
  for bad in ("X/16", "B/", "", "B-16"):
    with pytest.raises(ValueError, match="unknown model variant"):
      models.decode_variant(bad)


def test_vit_b16_parameter_count_matches_the_architecture():
  # Patch embedding + 196 learned positions + 12 pre-LN blocks + final LN, counted by hand.
  width, mlp, blocks = 768, 3072, 12
  block = 2 * 2 * width + 4 * (width * width + width) + (width * mlp + mlp) + (mlp * width + width)
  want = (16 * 16 * 3 * width + width) + 196 * width + blocks * block + 2 * width
  gap = nnx.eval_shape(lambda: models.ViT("B/16", image_size=224, pool_type="gap", rngs=nnx.Rngs(0)))
  assert _count(gap) == want == 85_797_120
  # The MAP head adds a probe, one attention layer, a LayerNorm and an MLP.
  mapped = nnx.eval_shape(lambda: models.ViT("B/16", image_size=224, pool_type="map", rngs=nnx.Rngs(0)))
  assert _count(mapped) - want == width + 4 * (width * width + width) + 2 * width + 2 * width * mlp + mlp + width


def test_siglip_b16_two_towers_size():
  model = nnx.eval_shape(lambda: models.build(
      "two_towers", image=dict(variant="B/16", image_size=224), text=dict(variant="B", vocab_size=32_000, max_len=64),
      rngs=nnx.Rngs(0)))
  assert 200e6 < _count(model) < 206e6  # SigLIP B/16 with a 32k vocabulary: about 203M


@pytest.mark.parametrize("pool", ["map", "gap", "tok", "none"])
def test_vit_pooling_shapes(pool):
  build = lambda: models.ViT("mu/8", image_size=32, pool_type=pool, num_classes=5 if pool != "none" else None,
                             rngs=nnx.Rngs(0))
  out, extras = _run(build, jnp.zeros((3, 32, 32, 3), jnp.uint8))
  assert out.shape == ((3, 16, 32) if pool == "none" else (3, 5))
  assert extras["encoded"].shape == (3, 16, 32)  # the 4x4 patch tokens, without the class token


def test_sincos_position_embedding_is_fixed_not_trained():
  table = vit_lib.posemb_sincos_2d(4, 4, 32)
  assert table.shape == (1, 16, 32)
  np.testing.assert_allclose(table[0, 0], [0.0] * 8 + [1.0] * 8 + [0.0] * 8 + [1.0] * 8)
  learned = nnx.eval_shape(lambda: models.ViT("mu/8", image_size=32, posemb="learn", rngs=nnx.Rngs(0)))
  fixed = nnx.eval_shape(lambda: models.ViT("mu/8", image_size=32, posemb="sincos2d", rngs=nnx.Rngs(0)))
  assert _count(learned) - _count(fixed) == 16 * 32
  assert not isinstance(fixed.pos_embedding, nnx.Param)
  const = jax.jit(lambda: models.ViT("mu/8", image_size=32, posemb="sincos2d", rngs=nnx.Rngs(0)).pos_embedding[...])
  np.testing.assert_allclose(const(), table, rtol=1e-6)


def test_vit_rejects_mismatched_patches():
  with pytest.raises(ValueError, match="not a multiple of patch size"):
    models.ViT("mu/8", image_size=30, rngs=nnx.Rngs(0))


def test_text_encoder_is_bidirectional_and_pools_the_last_token():
  build = lambda: models.TextTransformer("mu", vocab_size=50, max_len=8, rngs=nnx.Rngs(0))
  tokens = jnp.asarray([[5, 6, 7, 8, 1, 1, 1, 1], [5, 6, 7, 8, 1, 1, 9, 1]])
  out, extras = _run(build, tokens)
  np.testing.assert_array_equal(out, extras["encoded"][:, -1])
  # A later token changes earlier positions: no causal mask.
  assert not np.allclose(extras["encoded"][0, 0], extras["encoded"][1, 0])
  with pytest.raises(ValueError, match="max_len=8"):
    jax.eval_shape(lambda t: build()(t), jnp.ones((1, 9), jnp.int32))


def test_two_towers_init_and_bf16_compute_with_fp32_params():
  build = lambda: models.build("two_towers", image=dict(variant="mu/8", image_size=32),
                               text=dict(variant="mu", vocab_size=50, max_len=8), out_dim=24, dtype="bfloat16",
                               rngs=nnx.Rngs(1))
  params = nnx.state(nnx.eval_shape(build), nnx.Param)
  assert {x.dtype for x in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
  images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
  zimg, ztxt, extras = _run(build, images, jnp.ones((4, 8), jnp.int32))
  assert extras["img"]["pre_logits"].dtype == jnp.bfloat16  # the towers ran in bf16
  assert zimg.dtype == ztxt.dtype == jnp.float32 and zimg.shape == ztxt.shape == (4, 24)
  np.testing.assert_allclose(jnp.linalg.norm(zimg, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(jnp.linalg.norm(ztxt, axis=-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(extras["t"], np.exp(extras["t_prime"]), rtol=1e-6)
  # The initial values: only t' and b are computed (XLA drops the other initialisers).
  t_prime, b = jax.jit(lambda: (lambda m: (m.t_prime[...], m.b[...]))(build()))()
  np.testing.assert_allclose(t_prime, np.log(10.0), rtol=1e-6)
  assert float(b) == -10.0
  only_text = jax.eval_shape(lambda t: build()(text=t), jnp.ones((2, 8), jnp.int32))
  assert only_text[0] is None and only_text[1].shape == (2, 24)


def test_registry_rejects_unknown_models():
  with pytest.raises(ValueError, match="unknown model 'clip'"):
    models.build("clip", rngs=nnx.Rngs(0))


def test_remat_recomputes_without_changing_values_or_gradients():
  def loss(remat):
    build = lambda: models.ViT("mu/8", image_size=32, num_classes=4, remat=remat, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(nnx.eval_shape(build))
    rng = np.random.default_rng(0)
    state = jax.tree.map(lambda x: (0.1 * rng.normal(size=x.shape)).astype(x.dtype), state)
    images = jnp.asarray(np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)), jnp.uint8)
    f = lambda s: jnp.sum(nnx.merge(graphdef, s)(images)[0] ** 2)
    # The block is wrapped in a checkpoint (remat) primitive only when asked.
    assert ("remat" in str(jax.make_jaxpr(f)(state))) == remat
    return jax.jit(jax.value_and_grad(f))(state)

  (plain, plain_grads), (remat, remat_grads) = loss(False), loss(True)
  np.testing.assert_allclose(remat, plain, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(remat_grads), jax.tree.leaves(plain_grads), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
