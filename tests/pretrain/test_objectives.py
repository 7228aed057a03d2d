"""Every registered objective builds from its config and steps through the one Trainer (traced; compiled and run
with WEBPAIRS_SLOW=1); SILC's extra state (teacher, centres) survives a checkpoint round trip exactly."""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from webpairs.configs import loader
from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.pretrain import objectives, trainer as trainer_lib
from webpairs.pretrain.objectives import locca

VOCAB, B, LEN = 50, 4, 8
SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")
# name -> (tiny config, overrides): the smallest config each objective trains with.
CASES = {
    "dense": ("siglip:tiny", {}),
    "ring": ("siglip:tiny", {"loss.name": "ring"}),
    "chunked": ("siglip:tiny", {"loss.name": "chunked", "loss.chunk_size": 3}),
    "cappa": ("cappa:tiny", {}),
    "locca": ("locca:tiny", {"input.region_max_len": LEN}),
    "siglip_locca": ("siglip2:tiny", {"loss.name": "siglip_locca", "input.region_max_len": LEN}),
    "silc": ("silc:tiny", {"silc.num_local": 1, "silc.masked_weight": 0.5}),
    "siglip2": ("siglip2:tiny", {"silc.num_local": 1, "silc.switch_step": 0, "input.region_max_len": LEN}),
}


def _config(name: str):
  file, overrides = CASES[name]
  config = loader.load_config(loader.PRETRAIN, f"{file},batch={B},max_len={LEN}")
  if name == "siglip_locca":
    del config["silc"]  # SigLIP 2's first stage alone
  loader.apply_overrides(config, [f"{k}={v}" for k, v in overrides.items()])
  config.optax.warmup_steps = 0
  return config


def _batch(config) -> dict[str, jax.Array]:
  k = jax.random.split(jax.random.PRNGKey(0), 4)
  res = config.input.res
  text = jnp.concatenate([jax.random.randint(k[1], (B, 3), 2, VOCAB), jnp.ones((B, LEN - 3), jnp.int32)], 1)
  out = {"image": jax.random.randint(k[0], (B, res, res, 3), 0, 256).astype(jnp.uint8), "text": text}
  if config.input.get("regions", False):
    for i, task in enumerate(locca.TASKS):
      out[f"{task}_tokens"] = jax.random.randint(k[2 + i], (B, LEN), 2, VOCAB)
      out[f"{task}_weights"] = jnp.zeros((B, LEN)).at[:, 4:].set(1.0)
  return out


def test_the_cases_cover_every_registered_objective():
  assert set(CASES) == set(objectives.OBJECTIVES)


def _trainer(name: str) -> tuple[trainer_lib.Trainer, Any]:
  config = _config(name)
  assert config.loss["name"] == name
  tr = trainer_lib.Trainer(config, vocab_size=VOCAB)
  assert isinstance(tr.objective, objectives.OBJECTIVES[name][0])
  assert set(tr.extra_keys) == ({"teacher", "center", "patch_center"} if name in objectives.WITH_SILC else set())
  return tr, config


@pytest.mark.parametrize("name", list(CASES))
def test_each_objective_builds_and_traces_one_step(name):
  # Tracing alone (nothing compiled): the step keeps the state's structure and reports a scalar loss.
  tr, config = _trainer(name)
  batch = jax.eval_shape(lambda: _batch(config))
  new, metrics = jax.eval_shape(tr._train_step, tr.abstract_state, batch, tr.consts)
  assert jax.tree.structure(new) == jax.tree.structure(tr.abstract_state)
  assert metrics["loss"].shape == () and {"grad_norm", "lr", "finite"} <= set(metrics)


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("name", list(CASES))
def test_each_objective_trains_one_step(name):
  tr, config = _trainer(name)
  batch = _batch(config)
  state = tr.init_state()
  before = jax.device_get(state["params"])
  new, metrics = jax.jit(tr._train_step)(state, batch, tr.consts)
  assert jax.tree.structure(new) == jax.tree.structure(tr.abstract_state) and int(new["step"]) == 1
  assert bool(metrics["finite"]) and float(metrics["loss"]) > 0
  assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(new["params"])))


def test_silc_extra_state_survives_a_checkpoint_round_trip(tmp_path):
  config = loader.load_config(loader.PRETRAIN, f"silc:tiny,batch={B},max_len={LEN},num_local=1")
  tr = trainer_lib.Trainer(config, vocab_size=VOCAB)
  # Random values in the state's shapes (made on the host: nothing to compile), so the teacher differs from the
  # student and the centres from 0: a restore that re-initialised the extra state would show.
  rng = np.random.default_rng(0)
  host = lambda x: (rng.integers(0, 2**31, x.shape) if x.dtype.kind in "iu" else rng.standard_normal(x.shape)
                    ).astype(x.dtype)
  saved = jax.tree.map(host, tr.abstract_state)
  state = jax.device_put(saved, tr.state_shardings)
  ckpt = ckpt_lib.Checkpointer(str(tmp_path), every=1, keep=1)
  try:
    ckpt.save(1, state, None)
    ckpt.wait()
    restored, _ = ckpt.restore(1, tr.abstract_with_shardings())
  finally:
    ckpt.close()
  restored = jax.device_get(restored)
  assert set(restored) == {"step", "params", "opt", "rng", "teacher", "center", "patch_center"}
  assert jax.tree.structure(restored) == jax.tree.structure(saved)
  for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves(restored), strict=True):
    assert a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)
