"""CapPa: parallel-prediction rows, decoder causality, per-sequence loss weighting, KV-cached greedy decode."""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.pretrain.captioners import LEN, VOCAB, tiny_captioner
from tests.pretrain.conftest import TINY
from webpairs.configs import loader
from webpairs.pretrain import model_factory, models, objectives, trainer
from webpairs.pretrain.objectives import cappa
from webpairs.pretrain.models import decoder as decoder_lib
from webpairs.tokenizers import Tokenizer

WIDTH = 32


@functools.cache  # built once for the tests that only read it
def _decoder(seed: int = 0) -> decoder_lib.Decoder:
  build = lambda: decoder_lib.Decoder(vocab_size=VOCAB, max_len=LEN, width=WIDTH, depth=2, mlp_dim=64,
                                      num_heads=4, memory_width=24, rngs=nnx.Rngs(seed))
  graphdef, _ = nnx.split(nnx.eval_shape(build))
  dec = nnx.merge(graphdef, jax.jit(lambda: nnx.split(build())[1])())  # one program, not one per initialiser
  # The logits start at zero (every prediction uniform); random ones make the tests below sensitive.
  dec.head.kernel[...] = jax.random.normal(jax.random.PRNGKey(seed + 1), dec.head.kernel.shape)
  return dec


def _encoded(b: int = 3, seed: int = 2) -> jax.Array:
  return jax.random.normal(jax.random.PRNGKey(seed), (b, 5, 24))


def _labels(b: int = 3, seed: int = 3) -> jax.Array:
  return jax.random.randint(jax.random.PRNGKey(seed), (b, LEN), 2, VOCAB)


# 1. Parallel-prediction rows.


@pytest.mark.parametrize("p", [0.25, 0.75])
def test_parallel_fraction_is_within_a_binomial_bound(p):
  n = 8192
  rows = np.asarray(cappa.parallel_rows(jax.random.PRNGKey(0), n, p))
  assert abs(rows.mean() - p) <= 4 * np.sqrt(p * (1 - p) / n)
  other = np.asarray(cappa.parallel_rows(jax.random.PRNGKey(1), n, p))
  assert not np.array_equal(rows, other)  # drawn per key, not a fixed pattern


def test_parallel_probability_zero_and_one_are_exact():
  assert not np.asarray(cappa.parallel_rows(jax.random.PRNGKey(0), 1000, 0.0)).any()
  assert np.asarray(cappa.parallel_rows(jax.random.PRNGKey(0), 1000, 1.0)).all()
  with pytest.raises(ValueError):
    cappa.parallel_rows(jax.random.PRNGKey(0), 4, 1.5)


def test_masked_rows_hold_only_the_mask_id_with_full_attention_and_the_rest_teacher_force_causally():
  labels = _labels(6)
  parallel = jnp.array([True, False, True, False, False, True])
  inputs, causal = cappa.decoder_inputs(labels, parallel, mask_id=VOCAB)
  inputs, causal, labels = np.asarray(inputs), np.asarray(causal), np.asarray(labels)
  np.testing.assert_array_equal(causal, ~np.asarray(parallel))
  assert (inputs[[0, 2, 5]] == VOCAB).all()
  tf = inputs[[1, 3, 4]]
  np.testing.assert_array_equal(tf[:, 0], 0)
  np.testing.assert_array_equal(tf[:, 1:], labels[[1, 3, 4], :-1])
  np.testing.assert_array_equal(tf, np.asarray(cappa.shift_right(jnp.asarray(labels)))[[1, 3, 4]])
  mask = np.asarray(decoder_lib.attention_mask(jnp.asarray(causal), LEN))
  assert mask.shape == (6, 1, LEN, LEN)
  assert mask[[0, 2, 5]].all()
  for i in (1, 3, 4):
    np.testing.assert_array_equal(mask[i, 0], np.tril(np.ones((LEN, LEN), bool)))


def test_sticky_eos_text_becomes_targets_with_one_eos_and_pad():
  text = jnp.array([[5, 6, 7, 1, 1, 1], [5, 6, 7, 8, 9, 1], [4, 1, 1, 1, 1, 1]])
  np.testing.assert_array_equal(cappa.targets_from_text(text),
                                [[5, 6, 7, 1, 0, 0], [5, 6, 7, 8, 9, 1], [4, 1, 0, 0, 0, 0]])


# 2. Causality.


def test_teacher_forced_logits_never_see_the_token_they_predict_or_later_ones():
  dec, enc = _decoder(), _encoded()
  forward = jax.jit(lambda labels: dec(cappa.shift_right(labels), enc, causal=True))
  labels = _labels()
  base = forward(labels)
  for k in range(LEN - 1):
    out = forward(labels.at[:, k].set((labels[:, k] + 1) % VOCAB))
    np.testing.assert_array_equal(out[:, :k + 1], base[:, :k + 1])
    # ...and the later positions do read it: the check above is not vacuous.
    assert not np.allclose(out[:, k + 1:], base[:, k + 1:])


def test_parallel_rows_depend_on_no_label_but_attend_in_both_directions():
  dec, enc = _decoder(), _encoded()
  parallel = jnp.ones((3,), bool)
  outs = []
  for seed in (3, 4):
    inputs, causal = cappa.decoder_inputs(_labels(seed=seed), parallel, dec.mask_id)
    outs.append(dec(inputs, enc, causal))
  np.testing.assert_array_equal(outs[0], outs[1])
  # Full attention: the first position reads a change at the last one (a causal mask would hide it).
  tokens = jnp.full((3, LEN), dec.mask_id)
  a = dec(tokens, enc, causal=False)
  b = dec(tokens.at[:, -1].set(7), enc, causal=False)
  assert not np.allclose(a[:, 0], b[:, 0])


# 3. Loss weighting.


def test_pad_positions_carry_no_loss():
  labels = jnp.array([[5, 6, 1, 0, 0, 0], [7, 8, 9, 10, 1, 0]])
  logits = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 20))
  loss, per_seq = cappa.sequence_loss(logits, labels)
  noise = jax.random.normal(jax.random.PRNGKey(1), logits.shape) * 10
  pad = (labels == 0)[..., None]
  loss2, per_seq2 = cappa.sequence_loss(jnp.where(pad, logits + noise, logits), labels)
  np.testing.assert_allclose(per_seq2, per_seq, rtol=1e-6)
  assert float(loss2) == pytest.approx(float(loss))
  # A non-pad position does count.
  loss3, _ = cappa.sequence_loss(logits.at[0, 0].add(noise[0, 0]), labels)
  assert float(loss3) != pytest.approx(float(loss))


def test_short_and_long_captions_weigh_equally_per_sequence():
  v = 10
  short = jnp.array([3, 1, 0, 0, 0, 0, 0, 0])
  long = jnp.array([3, 4, 5, 6, 7, 8, 9, 1])
  labels = jnp.stack([short, long])
  # Every target token of the short caption costs log(v) (uniform logits), every one of the long costs ~0.
  logits = jnp.stack([jnp.zeros((8, v)), 50.0 * jax.nn.one_hot(long, v)])
  loss, per_seq = cappa.sequence_loss(logits, labels)
  np.testing.assert_allclose(per_seq, [np.log(v), 0.0], atol=1e-5)
  # Per-token averaging would give 2 log v / 10; per-sequence gives each caption half the weight.
  assert float(loss) == pytest.approx(np.log(v) / 2, abs=1e-5)


def test_zero_init_logits_start_at_log_vocab():
  model = tiny_captioner(random_logits=False)
  image = jax.random.uniform(jax.random.PRNGKey(0), (2, 16, 16, 3), minval=-1, maxval=1)
  batch = {"image": image, "text": jnp.array([[5, 6, 1] + [1] * (LEN - 3)] * 2)}
  loss, metrics = jax.jit(lambda b: cappa.CapPa(parallel_prob=0.5).loss(model, b, jax.random.PRNGKey(0)))(batch)
  assert float(loss) == pytest.approx(np.log(VOCAB), rel=1e-5)
  assert set(metrics) == {"loss_parallel", "loss_teacher_forced", "parallel_fraction"}


def test_decoder_depth_defaults_to_half_the_encoders():
  dims = models.captioner.decoder_dims({"variant": "B/16"}, {})
  assert dims == {"width": 768, "depth": 6, "mlp_dim": 3072, "num_heads": 12}
  assert models.captioner.decoder_dims({"variant": "B/16"}, {"depth": 2, "variant": None})["depth"] == 2
  assert models.captioner.decoder_dims({"variant": "B/16"}, {"variant": "S"})["width"] == 384


# 4. KV-cached decoding.


def test_cached_greedy_decode_is_the_argmax_of_a_teacher_forced_pass_over_its_output():
  dec, enc = _decoder(), _encoded(4)
  tokens = jax.jit(lambda e: decoder_lib.greedy_decode(dec, e))(enc)
  assert tokens.shape == (4, LEN)
  assert len(np.unique(np.asarray(tokens))) > 1  # not a constant sequence that any model would reproduce
  logits = dec(cappa.shift_right(tokens), enc, causal=True)
  np.testing.assert_array_equal(np.asarray(jnp.argmax(logits, -1)), np.asarray(tokens))
  # Each cached step's logits equal the full causal pass, not only their argmax.
  cache = dec.init_cache(enc)
  inputs = cappa.shift_right(tokens)
  step = jax.jit(dec.step)
  for i in range(LEN):
    step_logits, cache = step(inputs[:, i], i, cache)
    np.testing.assert_allclose(step_logits, logits[:, i], atol=1e-4, rtol=1e-4)


# Training through the trainer.


def test_cappa_config_trains_through_the_trainer_and_the_loss_falls(curated, tokenizer_dir, tmp_path):
  config = loader.load_config(loader.PRETRAIN, "cappa:tiny")
  config.input.shards = str(curated / "train")
  config.input.tokenizer = str(tokenizer_dir)
  loader.apply_overrides(config, [f"{k}={v}" for k, v in {**TINY, "total_steps": 80, "log_every": 4,
                                                          "ckpt_every": 100}.items()])
  final = trainer.train(config, str(tmp_path))
  assert final["step"] == 80
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  rows = [r for r in rows if "loss" in r]
  assert {"loss_parallel", "loss_teacher_forced", "parallel_fraction", "grad_norm"} <= set(rows[-1])
  vocab = Tokenizer.load(tokenizer_dir).vocab_size
  # Zero-initialised logits: the first steps sit at log V; captions of drawn scenes are easy to learn.
  assert rows[0]["loss"] == pytest.approx(np.log(vocab), rel=0.05)
  assert rows[-1]["loss"] < 0.7 * rows[0]["loss"], [r["loss"] for r in rows]
  assert 0.0 < np.mean([r["parallel_fraction"] for r in rows]) < 1.0


def test_greedy_decode_continues_a_forced_prefix_of_any_length_per_row():
  dec, enc = _decoder(), _encoded(4)
  prefix = _labels(4, seed=9)[:, :4]
  prefix_len = jnp.array([0, 1, 3, 4])
  tokens = jax.jit(lambda e: decoder_lib.greedy_decode(dec, e, prefix=prefix, prefix_len=prefix_len))(enc)
  tokens = np.asarray(tokens)
  for i, n in enumerate(np.asarray(prefix_len)):
    np.testing.assert_array_equal(tokens[i, :n], np.asarray(prefix)[i, :n])
  # After the prefix, each token is the argmax given everything before it (the prefix included).
  predicted = np.asarray(jnp.argmax(dec(cappa.shift_right(jnp.asarray(tokens)), enc, causal=True), -1))
  after = np.arange(LEN)[None, :] >= np.asarray(prefix_len)[:, None]
  np.testing.assert_array_equal(tokens[after], predicted[after])
  # The prefix changes the continuation: row 0 (no prefix) is the plain greedy decode.
  plain = np.asarray(jax.jit(lambda e: decoder_lib.greedy_decode(dec, e))(enc))
  np.testing.assert_array_equal(tokens[0], plain[0])
  assert not np.array_equal(tokens[3], plain[3])


def test_cappa_config_arguments_reach_the_model_and_the_objective():
  config = loader.load_config(loader.PRETRAIN, "cappa:variant=B/16,dec_depth=3,p=0.5,res=224")
  assert config.model_name == "captioner" and config.loss.parallel_prob == 0.5
  kwargs = model_factory.model_kwargs(config, vocab_size=32_000)
  model = nnx.eval_shape(lambda: models.build("captioner", rngs=nnx.Rngs(0), **kwargs))
  assert len(model.decoder.blocks) == 3 and model.img.pool_type == "none"
  assert model.decoder.embedding.embedding.shape == (32_001, 768)  # one extra row: the [MASK] id 32000
  assert model.decoder.head.kernel.shape == (768, 32_000)
  default = nnx.eval_shape(lambda: models.build("captioner", rngs=nnx.Rngs(0), **model_factory.model_kwargs(
      loader.load_config(loader.PRETRAIN, "cappa:variant=B/16"), vocab_size=100)))
  assert len(default.decoder.blocks) == 6  # half of B's 12 encoder blocks
  assert isinstance(objectives.build(config), cappa.CapPa)
