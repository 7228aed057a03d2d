"""The analytic FLOP count: exact on single ops, and against XLA's CPU cost analysis on the train_step rows.

The row checks build each objective's tiny preset as benchmarks/train_step.py does; the
other rows than SigLIP compile for minutes on two cores (WEBPAIRS_SLOW=1).
"""

from __future__ import annotations

import argparse
import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.pretrain.multidevice import run_with_devices
from webpairs.pretrain import flops, metrics, trainer

SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")
sys.path.insert(0, str(ROOT / "benchmarks"))
import train_step  # noqa: E402  pylint: disable=wrong-import-position


def _count(fn, *args, elementwise: float = 1.0) -> float:
  return flops.jaxpr_flops(flops.live(jax.make_jaxpr(fn)(*args)), elementwise)


def test_matmul_conv_and_elementwise_counts_are_exact():
  x, w = jnp.ones((4, 3, 5)), jnp.ones((5, 7))
  assert _count(lambda x, w: x @ w, x, w) == 2 * 4 * 3 * 5 * 7
  # A batched contraction: batch 4, M=N=3, K=5.
  assert _count(lambda x: jnp.einsum("bik,bjk->bij", x, x), x) == 2 * 4 * 3 * 3 * 5
  # tanh is a transcendental: not a FLOP. mul and add: one per element. The sum: one per input element.
  assert _count(lambda x: (jnp.tanh(x) * 2 + 1).sum(), x) == 3 * 60
  assert _count(lambda x: (jnp.tanh(x) * 2 + 1).sum(), x, elementwise=0.0) == 0
  # A 16x16 patch embedding of a 32x32 image into 8 features: 4 outputs per feature, 16*16*3 MACs each.
  img, kernel = jnp.ones((2, 32, 32, 3)), jnp.ones((16, 16, 3, 8))
  conv = lambda img, k: jax.lax.conv_general_dilated(img, k, (16, 16), "VALID",
                                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
  assert _count(conv, img, kernel) == 2 * (2 * 2 * 2 * 8) * (16 * 16 * 3)
  # Its weight gradient is the same number of MACs again (no gradient for the image).
  grad = jax.grad(lambda k: conv(img, k).sum())
  assert _count(grad, kernel, elementwise=0.0) == 2 * (2 * 2 * 2 * 8) * (16 * 16 * 3)


def _fake_eqn(name: str, shapes: list[tuple[int, ...]], **params):
  aval = lambda shape: types.SimpleNamespace(aval=jax.ShapeDtypeStruct(shape, jnp.bfloat16))
  return types.SimpleNamespace(primitive=types.SimpleNamespace(name=name), invars=[aval(s) for s in shapes],
                               params=params)


def test_cudnn_attention_counts_as_the_matmuls_it_replaces():
  # cuDNN's kernel only exists on a GPU: its primitive as the jaxpr holds it there, q/k/v [B, T, N, H].
  q, kv = (2, 7, 3, 16), (2, 5, 3, 16)
  ref = _count(lambda q, k, v: jnp.einsum("bnts,bsnh->btnh", jnp.einsum("btnh,bsnh->bnts", q, k), v),
               jnp.ones(q), jnp.ones(kv), jnp.ones(kv))
  fwd = _fake_eqn("dot_product_attention_fwd_wrapper", [q, kv, kv], layout=0)
  assert flops.attention_flops(fwd) == ref == 2 * 2 * 3 * 7 * 5 * 16 * 2
  bnth = _fake_eqn("dot_product_attention_fwd", [(2, 3, 7, 16), (2, 3, 5, 16), (2, 3, 5, 16)], layout=1)
  assert flops.attention_flops(bnth) == ref
  assert flops.attention_flops(_fake_eqn("dot_product_attention_bwd_wrapper", [q, kv, kv])) == 2 * ref


def test_scan_counts_its_body_length_times_and_cond_its_costliest_branch():
  w = jnp.ones((6, 6))
  body = lambda h, _: (h @ w, None)
  assert _count(lambda h: jax.lax.scan(body, h, None, length=5)[0], jnp.ones((2, 6)), elementwise=0.0) == \
      5 * 2 * 2 * 6 * 6
  branch = lambda p, h: jax.lax.cond(p, lambda h: h @ w @ w, lambda h: h @ w, h)
  assert _count(branch, True, jnp.ones((2, 6)), elementwise=0.0) == 2 * (2 * 2 * 6 * 6)


def test_shard_map_counts_every_device():
  out = run_with_devices(4, """
import jax, jax.numpy as jnp
from jax.sharding import PartitionSpec as P
from webpairs.pretrain import flops, sharding
mesh = sharding.make_mesh(-1)
f = jax.shard_map(lambda x: x @ x.T, mesh=mesh, in_specs=P("data"), out_specs=P("data"))
print(flops.step_flops(jax.make_jaxpr(f)(jnp.ones((8, 5)))))
""")
  assert float(out.split()[-1]) == 4 * (2 * 2 * 2 * 5)  # four devices, each [2, 5] @ [5, 2]


def _row(name: str) -> tuple[float, float]:
  """(analytic, XLA CPU) FLOPs of one step of a train_step row's tiny preset (vocab 1000)."""
  config = train_step.row_config(name, argparse.Namespace(tiny=True))
  tr = trainer.Trainer(config, vocab_size=1000)
  state = tr.init_state()
  batch = {k: jax.device_put(v, tr.batch_sharding) for k, v in train_step.synthetic_batch(config, 1000).items()}
  traced = tr.step_fn.trace(state, batch, tr.consts)
  analytic = tr.count_model_flops(state, batch, traced)
  return analytic, metrics.compiled_flops(traced.lower().compile())


def test_siglip_tiny_count_matches_xla_cpu_within_5_percent():
  analytic, xla = _row("siglip")
  assert abs(analytic / xla - 1) < 0.05, (analytic, xla)


@SLOW
@pytest.mark.slow
@pytest.mark.parametrize("name", [r for r in train_step.ROWS if r != "siglip"])
def test_other_objectives_match_xla_cpu_within_10_percent(name):
  analytic, xla = _row(name)
  assert abs(analytic / xla - 1) < 0.10, (analytic, xla)


def test_remat_recomputation_is_not_model_work():
  config = train_step.row_config("siglip", argparse.Namespace(tiny=True))
  config.model.remat = True
  tr = trainer.Trainer(config, vocab_size=1000)
  state = tr.init_state()
  batch = {k: jax.device_put(v, tr.batch_sharding) for k, v in train_step.synthetic_batch(config, 1000).items()}
  traced = tr.step_fn.trace(state, batch, tr.consts)
  with_recompute = flops.jaxpr_flops(flops.live(traced.jaxpr), 0.0)
  plain_config = train_step.row_config("siglip", argparse.Namespace(tiny=True))
  plain = trainer.Trainer(plain_config, vocab_size=1000)
  expected = flops.step_flops(plain.step_fn.trace(state, batch, plain.consts).jaxpr)
  assert tr.count_model_flops(state, batch, traced) == expected
  assert with_recompute > flops.jaxpr_flops(flops.live(plain.step_fn.trace(state, batch, plain.consts).jaxpr), 0.0)


def test_mfu_is_model_flops_over_device_time_at_peak():
  assert metrics.mfu(1e12, 1.0, 4, 1e12) == pytest.approx(0.25)
  assert metrics.mfu(None, 0.5, 4, 1e12) is None and metrics.mfu(2e12, 0.5, 4, None) is None
  assert np.isclose(metrics.mfu(989e12 * 0.45, 1.0, 1, metrics.PEAK_BF16_FLOPS["H200"]), 0.45)
