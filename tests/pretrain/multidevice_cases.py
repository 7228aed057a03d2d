"""Checks that need several devices; tests/pretrain/test_multidevice.py runs each in a subprocess with fake CPU devices."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tests.pretrain.test_losses import GRAD_ARGS, embeddings
from webpairs.pretrain import sharding
from webpairs.pretrain.objectives import sigmoid


def ring_matches_dense(global_batch: int = 24) -> None:
  """Ring loss == dense loss, value and gradients, on every device count that splits the batch."""
  zimg, ztxt = embeddings(global_batch, seed=3)
  t, b = np.float32(7.5), np.float32(-6.0)
  dense, dense_grads = jax.value_and_grad(sigmoid.sigmoid_loss, GRAD_ARGS)(zimg, ztxt, t, b)
  values = {}
  for n in (1, 2, 4):
    mesh = sharding.make_mesh(n)
    put = lambda x, mesh=mesh: jax.device_put(x, NamedSharding(mesh, P(sharding.DATA)))
    ring = lambda *a, mesh=mesh: sigmoid.ring_sigmoid_loss(*a, mesh=mesh, axis_name=sharding.DATA)
    value, grads = jax.jit(jax.value_and_grad(ring, GRAD_ARGS))(put(zimg), put(ztxt), t, b)
    values[n] = float(value)
    np.testing.assert_allclose(value, dense, rtol=1e-6)
    for g, w in zip(grads, dense_grads, strict=True):
      np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)
    # The gradients stay sharded like the embeddings: no device gathers the batch.
    assert grads[0].sharding.spec == P(sharding.DATA), grads[0].sharding
  assert max(values.values()) - min(values.values()) < 1e-5, values
  print("ring ok", values)


def ring_init_value(per_device: int = 3) -> None:
  """Orthogonal embeddings, t=10, b=-10 on 4 devices: 10.0000454 + (B-1) * 4.54e-5 with B the global batch."""
  mesh = sharding.make_mesh(4)
  n = 4 * per_device
  eye = np.eye(2 * n, dtype=np.float32)
  put = lambda x: jax.device_put(x, NamedSharding(mesh, P(sharding.DATA)))
  loss = jax.jit(lambda a, c: sigmoid.ring_sigmoid_loss(a, c, 10.0, -10.0, mesh=mesh))(put(eye[:n]), put(eye[n:]))
  np.testing.assert_allclose(loss, 10.0000454 + (n - 1) * 4.54e-5, rtol=1e-6)
  print("init ok", float(loss))


def sharded_training_matches_one_device(steps: int = 2) -> None:
  """4 devices, ring loss, FSDP parameters == 1 device, dense loss, replicated: same losses and parameters.

  Momentum SGD, so parameters differ by lr times the gradients' rounding differences
  (Adam's first steps turn near-zero gradients into full-size steps of either sign).
  """
  from webpairs.configs import loader  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain import trainer  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  batches = [{"image": rng.integers(0, 256, (16, 32, 32, 3)).astype(np.uint8),
              "text": rng.integers(3, 100, (16, 64)).astype(np.int32)} for _ in range(steps)]
  results = {}
  for devices, loss, strategy in ((1, "dense", "replicate"), (4, "ring", "fsdp")):
    config = loader.load_config(loader.PRETRAIN, "siglip:tiny")
    loader.apply_overrides(config, [f"loss.name={loss}", f"sharding={strategy}", f"mesh.data={devices}",
                                    "total_steps=10", "fsdp_min_size=1024", "optax.name=sgd", "optax.lr=0.1",
                                    "optax.warmup_steps=0", "optax.decay=constant"])
    tr = trainer.Trainer(config, vocab_size=100)
    if strategy == "fsdp":
      # Large leaves are split over the 4 devices, small ones replicated.
      specs = [s.spec for s in jax.tree.leaves(tr.state_shardings["params"])]
      assert any(sharding.DATA in tuple(s) for s in specs) and any(tuple(s) == () for s in specs), specs
    state = tr.init_state()
    losses_seen = []
    for batch in batches:
      state, m = tr.step(state, {k: jax.device_put(v, tr.batch_sharding) for k, v in batch.items()})
      losses_seen.append(float(m["loss"]))
    assert losses_seen[-1] != losses_seen[0]  # the parameters moved
    results[(devices, loss)] = (losses_seen, jax.device_get(state["params"]))
  (want_losses, want_params) = results[(1, "dense")]
  for key, (got_losses, got_params) in results.items():
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5, err_msg=str(key))
    for g, w in zip(jax.tree.leaves(got_params), jax.tree.leaves(want_params), strict=True):
      np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6, err_msg=str(key))
  print("sharded ok", {k: v[0] for k, v in results.items()})


def silc_sharded_matches_one_device(steps: int = 2) -> None:
  """The SILC step (crops, EMA teacher, centring, masked prediction) on 4 devices with ring loss and FSDP equals
  1 device with the dense loss: batch means (centre, losses) must be global, not per device."""
  from webpairs.configs import loader  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain.trainer import Trainer  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  batches = [{"image": rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8),
              "text": rng.integers(3, 100, (8, 16)).astype(np.int32)} for _ in range(steps)]
  results = {}
  for devices, loss, strategy in ((1, "dense", "replicate"), (4, "ring", "fsdp")):
    config = loader.load_config(loader.PRETRAIN, "silc:tiny,batch=8,steps=10,num_local=2,max_len=16")
    loader.apply_overrides(config, [f"loss.sigmoid={loss}", f"sharding={strategy}", f"mesh.data={devices}",
                                    "fsdp_min_size=1024", "optax.name=sgd", "optax.lr=0.1", "optax.warmup_steps=0",
                                    "optax.decay=constant"])
    config.silc.update(switch_step=0, masked_weight=0.5, teacher_momentum=0.5)
    tr = Trainer(config, vocab_size=100)
    state = tr.init_state()
    seen = []
    for batch in batches:
      state, m = tr.step(state, {k: jax.device_put(v, tr.batch_sharding) for k, v in batch.items()})
      seen.append([float(m[k]) for k in ("loss", "distill_loss", "masked_loss", "sigmoid_loss")])
    results[devices] = (seen, jax.device_get({k: state[k] for k in ("params", "teacher", "center", "patch_center")}))
  want_losses, want_state = results[1]
  got_losses, got_state = results[4]
  np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
  assert float(np.abs(want_state["center"]).max()) > 0  # the centre moved
  for g, w in zip(jax.tree.leaves(got_state), jax.tree.leaves(want_state), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
  print("silc sharded ok", want_losses)


def siglip2_sharded_matches_one_device() -> None:
  """SigLIP 2's step (ring sigmoid + LocCa from one tower pass, then the switch to self-distillation) on 4 devices
  with FSDP equals 1 device with the dense loss, on both sides of the switch."""
  from webpairs.configs import loader  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain.objectives import locca  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain.trainer import Trainer  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  weights = np.zeros((8, 16), np.float32)
  weights[:, 4:] = 1.0
  weights[::4] = 0.0  # examples without regions
  batches = [{"image": rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8),
              "text": rng.integers(3, 100, (8, 16)).astype(np.int32),
              **{f"{t}_{f}": (rng.integers(3, 100, (8, 16)).astype(np.int32) if f == "tokens" else weights)
                 for t in locca.TASKS for f in ("tokens", "weights")}} for _ in range(2)]
  keys = ("loss", "sigmoid_loss", "locca_loss", "distill_loss", "masked_loss")
  results = {}
  for devices, loss, strategy in ((1, "dense", "replicate"), (4, "ring", "fsdp")):
    config = loader.load_config(loader.PRETRAIN,
                                "siglip2:tiny,batch=8,steps=10,num_local=2,max_len=16,region_max_len=16")
    loader.apply_overrides(config, [f"loss.sigmoid={loss}", f"sharding={strategy}", f"mesh.data={devices}",
                                    "fsdp_min_size=1024", "optax.name=sgd", "optax.lr=0.1", "optax.warmup_steps=0",
                                    "optax.decay=constant"])
    config.silc.update(switch_step=1, teacher_momentum=0.5)
    tr = Trainer(config, vocab_size=100)
    state = tr.init_state()
    seen = []
    for batch in batches:
      state, m = tr.step(state, {k: jax.device_put(v, tr.batch_sharding) for k, v in batch.items()})
      seen.append([float(m[k]) for k in keys])
    results[devices] = (seen, jax.device_get({k: state[k] for k in ("params", "teacher", "center", "patch_center")}))
  want_losses, want_state = results[1]
  got_losses, got_state = results[4]
  assert want_losses[0][3] == 0 and want_losses[1][3] > 0  # self-distillation joins at step 1
  np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
  for g, w in zip(jax.tree.leaves(got_state), jax.tree.leaves(want_state), strict=True):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
  print("siglip2 sharded ok", want_losses)
