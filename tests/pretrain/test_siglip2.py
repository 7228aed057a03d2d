"""SigLIP 2: the two towers with a LocCa decoder on one image tower, the sigmoid + LocCa objective, its SILC stage
(switch, teacher copy, exact resume) and the siglip2 config."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from tests.pretrain.conftest import TINY, saved_state
from webpairs.configs import loader
from webpairs.pretrain import model_factory, models, objectives
from webpairs.pretrain.objectives import locca, sigmoid
from webpairs.pretrain import trainer as trainer_lib
from webpairs.pretrain.models.decoder import Decoder
from webpairs.pretrain.models.text import TextTransformer
from webpairs.pretrain.models.vit import ViT
from webpairs.pretrain.objectives.silc import ema
from webpairs.pretrain.objectives.silc.model import teacher_part
from webpairs.pretrain.objectives.silc.objective import SigLIP2

VOCAB, LEN, IMAGE, B = 50, 8, 16, 4
SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")
TOWERS = {"image": {"variant": "mu/8", "image_size": IMAGE}, "text": {"variant": "mu", "vocab_size": VOCAB,
                                                                    "max_len": LEN}}


def _batch(seed: int = 0, *, size: int = IMAGE, length: int = LEN) -> dict[str, jax.Array]:
  """Random pixels, a caption of 3 tokens then sticky EOS, and region rows with one example without regions."""
  k = jax.random.split(jax.random.PRNGKey(seed), 4)
  text = jnp.concatenate([jax.random.randint(k[1], (B, 3), 2, VOCAB), jnp.ones((B, length - 3), jnp.int32)], 1)
  out = {"image": jax.random.randint(k[0], (B, size, size, 3), 0, 256).astype(jnp.uint8), "text": text}
  for i, task in enumerate(locca.TASKS):
    out[f"{task}_tokens"] = jax.random.randint(k[2 + i], (B, length), 2, VOCAB)
    out[f"{task}_weights"] = jnp.zeros((B, length)).at[:, 4:].set(1.0).at[1].set(0.0)
  return out


@pytest.fixture(scope="module")
def tiny_model() -> models.SigLIP2:
  """Initialised in one jitted program, with random logit weights (zero-initialised ones make every loss log V)."""
  build = lambda: models.build("siglip2", rngs=nnx.Rngs(0), decoder={}, **TOWERS)
  graphdef, _ = nnx.split(nnx.eval_shape(build))
  model = nnx.merge(graphdef, jax.jit(lambda: nnx.split(build())[1])())
  kernel = model.decoder.head.kernel
  kernel[...] = jax.random.normal(jax.random.PRNGKey(1), kernel.shape)
  return model


def _count_calls(monkeypatch, image_shape: tuple[int, ...]) -> dict[str, int]:
  """Counts tower and decoder calls while tracing; image-tower calls only on inputs of `image_shape`."""
  calls = {"vit": 0, "text": 0, "decoder": 0}

  def wrap(cls, name, only_shape=None):
    fn = cls.__call__

    def wrapped(self, x, *args, **kwargs):
      if only_shape is None or tuple(x.shape) == only_shape:
        calls[name] += 1
      return fn(self, x, *args, **kwargs)
    monkeypatch.setattr(cls, "__call__", wrapped)

  wrap(ViT, "vit", image_shape)
  wrap(TextTransformer, "text")
  wrap(Decoder, "decoder")
  return calls


# The model.

def test_siglip2_model_is_the_two_towers_plus_a_decoder_on_the_image_tokens(tiny_model):
  abstract = lambda name, **kw: nnx.to_pure_dict(nnx.state(
      nnx.eval_shape(lambda: models.build(name, rngs=nnx.Rngs(0), **kw)), nnx.Param))
  towers = abstract("two_towers", **TOWERS)
  both = abstract("siglip2", decoder={}, **TOWERS)
  assert set(both) == set(towers) | {"decoder"}
  # Same parameter names and shapes as TwoTowers: SigLIP's checkpoints, evals and sharding rules apply.
  assert jax.tree.map(lambda x: x.shape, {k: both[k] for k in towers}) == jax.tree.map(lambda x: x.shape, towers)
  # The decoder reads the image tower's width; its positions are the text's unless set (long region rows).
  assert both["decoder"]["blocks"][0]["cross_attn"]["key"]["kernel"].shape == (32, 32)
  assert both["decoder"]["pos_embedding"].shape == (1, LEN, 32)
  longer = abstract("siglip2", decoder={"max_len": 24}, **TOWERS)
  assert longer["decoder"]["pos_embedding"].shape == (1, 24, 32)

  model = tiny_model
  batch = _batch()
  (zimg, ztxt, extras), encoded = nnx.jit(lambda m, x, t: (m(x, t), m.encode(x)))(model, batch["image"], batch["text"])
  assert zimg.shape == ztxt.shape == (B, 32)
  np.testing.assert_allclose(jnp.linalg.norm(zimg, axis=-1), 1.0, rtol=1e-5)
  # encode() is the captioner interface: the same unpooled tokens the call returns.
  assert encoded.shape == (B, (IMAGE // 8) ** 2, 32)
  np.testing.assert_allclose(encoded, extras["img"]["encoded"], rtol=1e-6)


# The objective.

def test_objective_is_the_weighted_sum_of_the_sigmoid_and_locca_losses(tiny_model):
  graphdef, state = nnx.split(tiny_model)
  batch = _batch(1)
  build = lambda **loss: objectives.build(ml_collections.ConfigDict({"loss": loss}))
  weighted = build(**{"name": "siglip_locca", "sigmoid": "dense", "parallel_prob": 0.5,
                               "sigmoid_weight": 0.5, "locca_weight": 2.0})
  equal = build(name="siglip_locca", sigmoid="chunked", chunk_size=3, parallel_prob=0.5)

  @jax.jit
  def run(state, batch, rng):
    m = nnx.merge(graphdef, state)
    zimg, ztxt, extras = m(batch["image"], batch["text"])
    # References computed apart: the plain sigmoid loss, and LocCa through the captioner path (its own encode).
    refs = (sigmoid.sigmoid_loss(zimg, ztxt, extras["t"], extras["b"]), locca.LocCa(parallel_prob=0.5).loss(m, batch, rng))
    return weighted.loss(m, batch, rng), equal.loss(m, batch, rng), refs

  (total, metrics), (total_eq, metrics_eq), (sig, (loc, loc_metrics)) = jax.device_get(
      run(state, batch, jax.random.PRNGKey(3)))
  assert set(metrics) == {"sigmoid_loss", "locca_loss", "loss_cap", "loss_aref", "loss_gcap", "region_fraction",
                          "t", "b"}
  s, lc = np.float32(metrics["sigmoid_loss"]), np.float32(metrics["locca_loss"])
  assert s > 0 and lc > 0
  # Weights that are powers of two multiply exactly: only the sum rounds, as the objective's does.
  assert total == np.float32(0.5) * s + np.float32(2.0) * lc
  assert total_eq == np.float32(metrics_eq["sigmoid_loss"]) + np.float32(metrics_eq["locca_loss"])
  np.testing.assert_allclose(s, sig, rtol=1e-6)
  np.testing.assert_allclose(metrics_eq["sigmoid_loss"], sig, rtol=1e-6)  # chunked in 3-row blocks: the same loss
  np.testing.assert_allclose(lc, loc, rtol=1e-6)
  for k, v in loc_metrics.items():
    np.testing.assert_allclose(metrics[k], v, rtol=1e-6)
  assert metrics["region_fraction"] == 0.75 and metrics["loss_aref"] > 0


def test_a_train_step_runs_the_image_tower_once_for_both_losses(monkeypatch):
  # Tracing alone tells what one step computes: nothing is compiled.
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,batch={B},max_len={LEN}")
  with config.unlocked():
    config.loss.name = "siglip_locca"  # SigLIP 2's first stage alone: no silc block, so no SILC heads either
    del config["silc"]
  tr = trainer_lib.Trainer(config, vocab_size=VOCAB)
  assert isinstance(tr.objective, objectives.siglip_locca.SigLIPLocCa)
  batch = jax.eval_shape(lambda: _batch(size=32))
  calls = _count_calls(monkeypatch, None)
  _, metrics = jax.eval_shape(tr._train_step, tr.abstract_state, batch, tr.consts)
  assert calls == {"vit": 1, "text": 1, "decoder": 3}
  assert {"sigmoid_loss", "locca_loss", "loss_cap", "loss_aref", "loss_gcap"} <= set(metrics)


def test_the_silc_stage_passes_the_input_images_through_the_tower_once(monkeypatch):
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,batch={B},max_len={LEN},num_local=2")
  tr = trainer_lib.Trainer(config, vocab_size=VOCAB)
  assert isinstance(tr.objective, SigLIP2) and set(tr.extra_keys) == {"teacher", "center", "patch_center"}
  # The teacher mirrors the image tower and heads, not the decoder; the optimiser holds the decoder.
  abstract = tr.abstract_state
  assert set(abstract["teacher"]) == {"towers", "head", "patch_head"} and set(abstract["teacher"]["towers"]) == {"img"}
  assert "decoder" in abstract["params"]["towers"]
  calls = _count_calls(monkeypatch, (B, 32, 32, 3))  # views are [2B, ...] and [2B, 16, 16, 3]
  _, metrics = jax.eval_shape(tr._train_step, abstract, jax.eval_shape(lambda: _batch(size=32)), tr.consts)
  assert calls == {"vit": 1, "text": 1, "decoder": 3}
  assert {"image_text_loss", "sigmoid_loss", "locca_loss", "distill_loss", "masked_loss", "teacher_entropy"
          } <= set(metrics)


def test_old_style_configs_fail_loudly_and_siglip2_needs_regions():
  # Before SILC was an objective, a silc block beside any loss name picked the SILC trainer.
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,batch={B}")
  config.loss.name = "siglip_locca"
  with pytest.raises(ValueError, match="config.silc is set but loss.name is 'siglip_locca'"):
    trainer_lib.Trainer(config, vocab_size=VOCAB)
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,batch={B}")
  config.silc.image_text_on = "image"
  with pytest.raises(ValueError, match="silc.image_text_on is gone"):
    trainer_lib.Trainer(config, vocab_size=VOCAB)
  config = loader.load_config(loader.PRETRAIN, "siglip:tiny")
  config.loss.name = "silc"
  with pytest.raises(ValueError, match="needs a config.silc block"):
    trainer_lib.Trainer(config, vocab_size=VOCAB)
  config.loss.name = "sigmoid"
  with pytest.raises(ValueError, match="unknown loss.name 'sigmoid'"):
    trainer_lib.Trainer(config, vocab_size=VOCAB)
  config = loader.load_config(loader.PRETRAIN, "siglip2:tiny,shards=/data,tokenizer=/tok")
  config.input.regions = False
  with pytest.raises(ValueError, match="siglip2 loss reads region annotations"):
    trainer_lib._check_config(config)


# The config.

def test_siglip2_config_is_sigmoid_plus_locca_with_silcs_siglip2_schedule():
  c = loader.load_config(loader.PRETRAIN, "siglip2:variant=L/16,steps=1000")
  assert c.model_name == "siglip2" and c.model.image["variant"] == "L/16" and c.model.image["pool_type"] == "map"
  assert (c.loss["name"], c.loss["sigmoid"], c.loss["sigmoid_weight"], c.loss["locca_weight"]) == (
      "siglip2", "ring", 1.0, 1.0)
  assert (c.loss["bins"], c.loss["style"], c.loss["parallel_prob"]) == (500, "loc", 0.5)  # locca.py's
  assert c.input.regions is True and c.input.region_max_len == 64
  # SigLIP 2's schedule (silc.py:siglip2): switch at 0.8, weights 1 and 0.25 times L's size factor 0.5.
  assert (c.silc.switch_step, c.silc.distill_weight, c.silc.masked_weight) == (800, 0.5, 0.125)
  assert objectives.objective_class(c.loss["name"]) is SigLIP2
  assert loader.load_config(loader.PRETRAIN, "silc:tiny").loss["name"] == "silc"
  kwargs = model_factory.model_kwargs(c, vocab_size=32_000)
  assert kwargs["decoder"] == {"variant": None, "depth": None, "max_len": 64}

  tiny = loader.load_config(loader.PRETRAIN, "siglip2:tiny,switch=0.5,locca_weight=2,masked=0.5,shards=/a")
  assert (tiny.model.image["variant"], tiny.input.res, tiny.loss["sigmoid"], tiny.loss["bins"]) == (
      "mu/8", 32, "dense", 32)
  assert (tiny.silc.switch_step, tiny.silc.distill_weight, tiny.silc.masked_weight) == (300, 1.0, 0.5)
  assert tiny.loss["locca_weight"] == 2.0 and tiny.input.shards == "/a" and tiny.input.region_max_len == 24


# The SILC stage with LocCa, compiled: the switch (slow: ~1 min of compilation on two cores).

@pytest.fixture(scope="module")
def staged_run():
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,batch={B},steps=10,num_local=2")
  config.optax.warmup_steps = 0
  config.silc.update(switch_step=1, teacher_momentum=0.5)
  tr = trainer_lib.Trainer(config, vocab_size=VOCAB)
  step = jax.jit(tr._train_step)  # no donation: the test keeps every state
  s0 = tr.init_state()
  s1, m1 = step(s0, _batch(0, size=32, length=config.input.max_len), tr.consts)
  s2, m2 = step(s1, _batch(1, size=32, length=config.input.max_len), tr.consts)
  return jax.device_get(([s0, s1, s2], [m1, m2]))


@pytest.mark.slow
@SLOW
def test_locca_trains_from_the_start_and_self_distillation_joins_at_the_switch(staged_run):
  (s0, s1, s2), (m1, m2) = staged_run
  assert all(np.isfinite(v).all() for v in jax.tree.leaves((m1, m2)))
  # Before the switch: the image-text objective alone, exactly; teacher and centres untouched.
  assert m1["distill_weight"] == 0 and m1["distill_loss"] == 0 and m1["masked_loss"] == 0
  assert m1["loss"] == m1["image_text_loss"] and m1["locca_loss"] > 0 and m1["loss_aref"] > 0
  jax.tree.map(np.testing.assert_array_equal, s1["teacher"], s0["teacher"])
  assert not np.abs(s1["center"]).any() and not np.abs(s1["patch_center"]).any()
  dec = lambda s: s["params"]["towers"]["decoder"]["head"]["kernel"]
  assert not np.allclose(dec(s1), dec(s0))  # the decoder trains from the first step
  # At the switch: both extra losses on, weighted 1 and 0.25 (mu's size factor is 1).
  assert (m2["distill_weight"], m2["masked_weight"]) == (1.0, 0.25)
  assert m2["distill_loss"] > 0 and m2["masked_loss"] > 0 and m2["teacher_entropy"] > 0
  expected = m2["image_text_loss"] + m2["distill_loss"] + np.float32(0.25) * m2["masked_loss"]
  np.testing.assert_allclose(m2["loss"], expected, rtol=1e-6)
  # The teacher is the student of the switch, then averaged (m = 0.5) with the updated student.
  expected = ema.ema_update(teacher_part(s1["params"]), teacher_part(s2["params"]), 0.5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), s2["teacher"], expected)
  assert np.abs(s2["center"]).max() > 0 and np.abs(s2["patch_center"]).max() > 0


# Through the real training loop, with regions from the shards: resume across the switch.

@pytest.mark.slow
@SLOW
def test_resume_across_the_switch_with_locca_is_exact(curated, loc_tokenizer_dir, tmp_path):
  config = loader.load_config(loader.PRETRAIN, f"siglip2:tiny,shards={curated / 'train'},tokenizer={loc_tokenizer_dir}")
  loader.apply_overrides(config, [f"{k}={v}" for k, v in TINY.items()])
  config.log_every, config.total_steps, config.ckpt_every = 1, 6, 0
  config.silc.update(switch_step=3, num_local=2)
  straight, split = tmp_path / "straight", tmp_path / "split"
  trainer_lib.train(config, str(straight))
  for stop in (2, 4, None):  # before the switch, after it, the end
    trainer_lib.train(config, str(split), stop_at_step=stop)
  restore = lambda w: saved_state(w, 6)[0]
  a, b = restore(straight), restore(split)
  flat_a, tree_a = jax.tree.flatten(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b and "decoder" in a["params"]["towers"]
  for x, y in zip(flat_a, flat_b, strict=True):  # student, decoder, teacher, centres, optimiser, RNG: bit for bit
    np.testing.assert_array_equal(x, y)
  assert np.abs(a["center"]).max() > 0


