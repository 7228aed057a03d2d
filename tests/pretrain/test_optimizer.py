"""Optimizer chain: warm-up + decay schedules, decoupled weight decay on kernels only, clipping."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from webpairs.pretrain import optimizer


def test_schedule_warms_up_then_decays():
  sched = optimizer.schedule(1e-3, total_steps=100, warmup_steps=10, decay="cosine")
  values = np.asarray([sched(i) for i in range(101)])
  np.testing.assert_allclose(values[[0, 5, 10]], [0.0, 5e-4, 1e-3], rtol=1e-6)
  assert np.all(np.diff(values[10:]) <= 1e-12) and values[100] < 1e-9
  np.testing.assert_allclose(sched(55), 5e-4, rtol=1e-5)  # cosine half-way
  linear = optimizer.schedule(1.0, 20, 0, "linear", end_factor=0.5)
  np.testing.assert_allclose([linear(0), linear(10), linear(20)], [1.0, 0.75, 0.5], rtol=1e-6)
  assert optimizer.schedule(0.1, 5, 2, "constant")(4) == pytest.approx(0.1)
  with pytest.raises(ValueError, match="decay must be one of"):
    optimizer.schedule(0.1, 5, 0, "rsqrt")


def _params():
  return {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))}, "ln": {"scale": jnp.ones((2,))},
          "t_prime": jnp.asarray(2.3)}


def test_weight_decay_is_decoupled_and_touches_kernels_only():
  tx, _ = optimizer.make(dict(name="adamw", lr=0.5, wd=0.1, warmup_steps=0, decay="constant", grad_clip=0.0),
                         total_steps=10)
  params = _params()
  zero = {"dense": {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros((2,))}, "ln": {"scale": jnp.zeros((2,))},
          "t_prime": jnp.asarray(0.0)}
  updates, _ = tx.update(zero, tx.init(params), params)
  # Zero gradients: only decay moves parameters, by wd * (sched / lr) = 0.1 of a kernel, not lr * wd.
  np.testing.assert_allclose(updates["dense"]["kernel"], -0.1)
  for leaf in (updates["dense"]["bias"], updates["ln"]["scale"], updates["t_prime"]):
    np.testing.assert_allclose(leaf, 0.0)


@pytest.mark.parametrize("name", ["adamw", "adafactor"])
def test_clipping_bounds_the_first_adam_step(name):
  tx, _ = optimizer.make(dict(name=name, lr=1.0, wd=0.0, warmup_steps=0, decay="constant", grad_clip=1.0),
                         total_steps=10)
  params = {"kernel": jnp.zeros((256, 256))}
  grads = {"kernel": jnp.full((256, 256), 1e6)}
  updates, _ = tx.update(grads, tx.init(params), params)
  assert np.isfinite(updates["kernel"]).all() and float(jnp.abs(updates["kernel"]).max()) <= 1.0 + 1e-5


def test_unknown_optimizer():
  with pytest.raises(ValueError, match="unknown optimizer"):
    optimizer.make(dict(name="lion", lr=1.0), total_steps=1)
