"""Beam search through the decoder's KV cache: exact against brute force on a tiny vocabulary, greedy at width 1."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from webpairs.pretrain.objectives import cappa
from webpairs.pretrain.models import decoder as decoder_lib

V, L, EOS, PAD = 5, 3, 1, 0


@functools.cache
def _decoder(vocab: int = V, max_len: int = 8, seed: int = 0) -> decoder_lib.Decoder:
  build = lambda: decoder_lib.Decoder(vocab_size=vocab, max_len=max_len, width=16, depth=2, mlp_dim=32,
                                      num_heads=2, memory_width=8, rngs=nnx.Rngs(seed))
  graphdef, _ = nnx.split(nnx.eval_shape(build))
  dec = nnx.merge(graphdef, jax.jit(lambda: nnx.split(build())[1])())
  # Large random logits: peaked distributions whose best sequence greedy often misses.
  dec.head.kernel[...] = 3 * jax.random.normal(jax.random.PRNGKey(seed + 1), dec.head.kernel.shape)
  return dec


def _encoded(b: int, seed: int = 2) -> jax.Array:
  return jax.random.normal(jax.random.PRNGKey(seed), (b, 3, 8))


def _canonical(seq: np.ndarray, start: int) -> tuple[int, ...]:
  """Pad after the first generated EOS: sequences that differ only there are one hypothesis."""
  seq = [int(t) for t in seq]
  ends = [i for i in range(start, len(seq)) if seq[i] == EOS]
  if ends:
    seq[ends[0] + 1:] = [PAD] * (len(seq) - ends[0] - 1)
  return tuple(seq)


@functools.cache
def _forward(dec: decoder_lib.Decoder):
  return jax.jit(lambda seqs, enc: jax.nn.log_softmax(dec(cappa.shift_right(seqs), enc, causal=True)))


def _teacher_forced(dec, enc, seqs: np.ndarray, start: np.ndarray) -> np.ndarray:
  """float64 [N]: log-prob of each sequence's tokens from position start[i] up to its first EOS there, or the end."""
  logp = np.asarray(_forward(dec)(jnp.asarray(seqs), enc), np.float64)
  tok = np.take_along_axis(logp, seqs[..., None], axis=-1)[..., 0]
  pos = np.arange(seqs.shape[1])[None, :]
  free = pos >= start[:, None]
  is_eos = (seqs == EOS) & free
  before_first_eos = (np.cumsum(is_eos, axis=1) - is_eos) == 0
  return (tok * (free & before_first_eos)).sum(axis=1)


def _brute_force(dec, enc_row: jax.Array, prefix: np.ndarray, length: int, alpha: float
                 ) -> dict[tuple[int, ...], tuple[float, float]]:
  """{canonical sequence: (teacher-forced log-prob, length-normalised score)} for every continuation of the prefix.

  Every sequence of `length` tokens goes through one teacher-forced pass (one compilation
  per length); those that do not start with the prefix are dropped.
  """
  p = len(prefix)
  seqs = np.array(list(itertools.product(range(V), repeat=length)), np.int32)
  seqs = seqs[(seqs[:, :p] == prefix[None, :]).all(axis=1)] if p else seqs
  logp = _teacher_forced(dec, jnp.repeat(enc_row[None], V ** length, axis=0), np.pad(
      seqs, ((0, V ** length - len(seqs)), (0, 0))), np.full(V ** length, p))[:len(seqs)]
  is_eos = (seqs[:, p:] == EOS)
  n = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, length - p)
  score = logp / ((5.0 + n) / 6.0) ** alpha
  return {_canonical(s, p): (float(lp), float(sc)) for s, lp, sc in zip(seqs, logp, score)}


def _check_best(table: dict[tuple[int, ...], tuple[float, float]], seq: np.ndarray, logp: float) -> None:
  """seq is the best-scoring hypothesis of the table, and logp its teacher-forced log-likelihood."""
  best = max(table, key=lambda s: table[s][1])
  assert tuple(int(t) for t in seq) == best
  assert logp == pytest.approx(table[best][0], abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_a_full_width_beam_finds_the_brute_force_best_sequence_and_its_log_prob(alpha):
  dec, enc = _decoder(), _encoded(4)
  seqs, logp = jax.jit(lambda e: decoder_lib.beam_decode(dec, e, beam_size=V ** L, length=L,
                                                           length_penalty=alpha))(enc)
  seqs, logp = np.asarray(seqs), np.asarray(logp)
  for i in range(len(enc)):
    _check_best(_brute_force(dec, enc[i], np.zeros(0, np.int32), L, alpha), seqs[i], logp[i])
  if alpha == 0.0:
    # Some best sequences end early: finished hypotheses hold pad after EOS and stop accumulating.
    ended = [i for i in range(len(seqs)) if EOS in seqs[i, :-1]]
    assert ended, seqs
    for i in ended:
      assert (seqs[i, list(seqs[i]).index(EOS) + 1:] == PAD).all()


def test_a_full_width_beam_after_a_forced_prompt_of_any_length_per_row():
  dec, enc = _decoder(), _encoded(3, seed=5)
  length = L + 1
  prefix = jnp.array([[3, 0], [4, 2], [2, 4]], jnp.int32)
  prefix_len = jnp.array([0, 1, 2], jnp.int32)
  run = jax.jit(lambda e: decoder_lib.beam_decode(dec, e, beam_size=V ** L, length=length, prefix=prefix,
                                                    prefix_len=prefix_len))
  seqs, logp = map(np.asarray, run(enc))
  for i, p in enumerate(np.asarray(prefix_len)):
    if p == 0:  # four free tokens: more hypotheses than the beam holds, so only the prompted rows are exact
      continue
    _check_best(_brute_force(dec, enc[i], np.asarray(prefix[i, :p]), length, 0.0), seqs[i], logp[i])
  # The prompt is kept as given and not scored; what follows it is.
  np.testing.assert_array_equal(seqs[1:, :1], np.asarray(prefix[1:, :1]))
  np.testing.assert_array_equal(seqs[2, :2], np.asarray(prefix[2]))


@pytest.mark.parametrize("vocab", [V, 50])
def test_beam_size_one_is_greedy_up_to_the_first_eos(vocab):
  dec, enc = _decoder(vocab), _encoded(6, seed=7)
  prefix, prefix_len = jnp.array([[2, 3]] * 6, jnp.int32), jnp.array([0, 0, 0, 1, 2, 2], jnp.int32)
  greedy = np.asarray(jax.jit(lambda e: decoder_lib.greedy_decode(dec, e, prefix=prefix, prefix_len=prefix_len))(enc))
  seqs, logp = jax.jit(lambda e: decoder_lib.beam_decode(dec, e, beam_size=1, prefix=prefix,
                                                           prefix_len=prefix_len))(enc)
  seqs = np.asarray(seqs)
  for i in range(len(enc)):
    assert tuple(seqs[i]) == _canonical(greedy[i], int(prefix_len[i]))
  # Eight cached steps against one full pass: float32 sums that differ in order, hence the relative slack.
  np.testing.assert_allclose(logp, _teacher_forced(dec, enc, seqs, np.asarray(prefix_len)), rtol=1e-5, atol=1e-5)


def test_a_wider_beam_never_scores_below_greedy():
  dec, enc = _decoder(50), _encoded(8, seed=11)
  _, narrow = jax.jit(lambda e: decoder_lib.beam_decode(dec, e, beam_size=1))(enc)
  _, wide = jax.jit(lambda e: decoder_lib.beam_decode(dec, e, beam_size=4))(enc)
  assert (np.asarray(wide) >= np.asarray(narrow) - 1e-5).all()
  assert (np.asarray(wide) > np.asarray(narrow) + 1e-3).any()  # the search finds better sequences somewhere


def test_beam_decode_checks_its_arguments():
  dec, enc = _decoder(), _encoded(1)
  with pytest.raises(ValueError, match="beam_size"):
    decoder_lib.beam_decode(dec, enc, beam_size=0)
  with pytest.raises(ValueError, match="length"):
    decoder_lib.beam_decode(dec, enc, beam_size=2, length=9)
