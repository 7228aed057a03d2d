"""Speed levers keep the maths: fused attention against flax's, the XLA GPU flags' merge, bf16 Adam moments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from webpairs.pretrain import optimizer, xla_flags
from webpairs.pretrain.models import TwoTowers, common


def _towers(attention: str) -> TwoTowers:
  image = dict(variant="mu/8", image_size=32, pool_type="map", attention=attention)
  text = dict(variant="mu", vocab_size=50, max_len=8, attention=attention)
  return TwoTowers(image=image, text=text, rngs=nnx.Rngs(0))


def test_dot_product_attention_matches_flax_attention_with_the_same_parameters():
  ref, fused = _towers("nnx"), _towers("xla")
  ref_params, fused_params = nnx.state(ref, nnx.Param), nnx.state(fused, nnx.Param)
  assert jax.tree.structure(ref_params) == jax.tree.structure(fused_params)  # checkpoints load either way
  for a, b in zip(jax.tree.leaves(ref_params), jax.tree.leaves(fused_params), strict=True):
    np.testing.assert_array_equal(a, b)
  rng = np.random.default_rng(0)
  image = jnp.asarray(rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
  text = jnp.asarray(rng.integers(2, 50, (3, 8), dtype=np.int32))
  for x, y in zip(ref(image, text)[:2], fused(image, text)[:2], strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=2e-6)


def test_auto_attention_is_cudnn_only_on_gpu_in_half_precision_and_unknown_names_fail():
  assert common.resolve_attention("auto", jnp.bfloat16) == ("cudnn" if jax.devices()[0].platform == "gpu" else "nnx")
  assert common.resolve_attention("auto", jnp.float32) == "nnx"  # the CPU path (and the tests') is unchanged
  with pytest.raises(ValueError, match="attention must be one of"):
    common.resolve_attention("flash", jnp.bfloat16)


def test_xla_gpu_flags_are_appended_once_and_never_override_the_users():
  env = {"XLA_FLAGS": "--xla_gpu_enable_triton_gemm=true --xla_dump_to=/tmp/d"}
  value = xla_flags.apply(True, env)
  assert value.split() == ["--xla_gpu_enable_triton_gemm=true", "--xla_dump_to=/tmp/d",
                           "--xla_gpu_enable_latency_hiding_scheduler=true"]
  assert xla_flags.apply(True, env) == value  # idempotent
  off: dict[str, str] = {}
  assert xla_flags.apply(False, off) == "" and "XLA_FLAGS" not in off


def test_bf16_first_moment_halves_its_memory_and_keeps_the_update_close():
  params = {"w": {"kernel": jnp.linspace(-1, 1, 64, dtype=jnp.float32).reshape(8, 8)}}
  grads = jax.tree.map(lambda p: jnp.cos(3 * p), params)
  updates = {}
  for mu in ("", "bfloat16"):
    tx, _ = optimizer.make({"name": "adamw", "lr": 1e-2, "mu_dtype": mu, "warmup_steps": 0, "decay": "constant"}, 10)
    state = tx.init(params)
    moments = [s for s in jax.tree.leaves(state) if s.ndim == 2]
    assert {m.dtype for m in moments} == ({jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float32)} if mu
                                          else {jnp.dtype(jnp.float32)})
    updates[mu], _ = tx.update(grads, state, params)
  np.testing.assert_allclose(updates["bfloat16"]["w"]["kernel"], updates[""]["w"]["kernel"], rtol=1e-2)


def test_device_prefetch_reports_the_position_of_what_was_consumed():
  import grain  # pylint: disable=import-outside-toplevel
  from webpairs.pretrain import sharding  # pylint: disable=import-outside-toplevel
  from webpairs.pretrain.input.pipeline import DeviceIterator  # pylint: disable=import-outside-toplevel
  ds = grain.MapDataset.range(40).map(lambda i: {"image": np.full((2,), i), "text": np.full((3,), i)})
  ds = ds.to_iter_dataset().batch(4)
  shard = sharding.batch_sharding(sharding.make_mesh(-1))
  first = lambda it: int(next(it)["image"][0, 0])
  a = DeviceIterator(ds, shard, prefetch=3)
  assert [first(a) for _ in range(3)] == [0, 4, 8]  # the thread has run ahead by now
  state = a.get_state()
  assert first(a) == 12
  b = DeviceIterator(ds, shard, prefetch=3)
  b.set_state(state)
  assert first(b) == 12
  a.set_state(state)  # a rewind drops what was prefetched
  assert first(a) == 12 and sum(1 for _ in a) == 6  # then the end of the data arrives as StopIteration
  a.close()
  b.close()
