"""Transformer decoder for captioning (CapPa, LocCa): pre-LN self-attention, cross-attention to unpooled image
tokens, MLP; no biases in its projections; zero-initialised logits; learned positions; a KV cache for decoding."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain.models import common

# Per block: (self K, self V, cross K, cross V), each [B, T, heads, head_dim].
Cache = list[tuple[jax.Array, jax.Array, jax.Array, jax.Array]]


def attention_mask(causal: jax.Array, length: int) -> jax.Array:
  """bool [B] (True: causal row, False: full attention) -> bool [B, 1, L, L] (True: may attend)."""
  tril = jnp.tril(jnp.ones((length, length), bool))
  return jnp.where(jnp.asarray(causal, bool)[:, None, None, None], tril, True)


class Attention(nnx.Module):
  """Multi-head dot-product attention without biases; keys/values may come from a memory of another width."""

  def __init__(self, width: int, num_heads: int, *, kv_width: int | None = None, dtype: Any, rngs: nnx.Rngs):
    if width % num_heads:
      raise ValueError(f"width {width} does not split into {num_heads} heads")
    self.num_heads, self.head_dim = num_heads, width // num_heads
    kw = dict(use_bias=False, dtype=dtype, param_dtype=jnp.float32, kernel_init=common.KERNEL_INIT, rngs=rngs)
    self.query = nnx.Linear(width, width, **kw)
    self.key = nnx.Linear(kv_width or width, width, **kw)
    self.value = nnx.Linear(kv_width or width, width, **kw)
    self.out = nnx.Linear(width, width, **kw)

  def _heads(self, x: jax.Array) -> jax.Array:
    return x.reshape(*x.shape[:-1], self.num_heads, self.head_dim)

  def keys_values(self, memory: jax.Array) -> tuple[jax.Array, jax.Array]:
    """[B, T, kv_width] -> keys and values [B, T, heads, head_dim]."""
    return self._heads(self.key(memory)), self._heads(self.value(memory))

  def attend(self, x: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """x [B, L, width] attends over k, v [B, T, heads, head_dim]; mask broadcasts to [B, heads, L, T]."""
    q = self._heads(self.query(x))
    logits = jnp.einsum("blhd,bthd->bhlt", q, k).astype(jnp.float32) / np.sqrt(self.head_dim)
    if mask is not None:
      logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    # Softmax in fp32 whatever the matmul dtype: bf16 exponentials lose the small weights.
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    y = jnp.einsum("bhlt,bthd->blhd", weights, v)
    return self.out(y.reshape(*y.shape[:2], -1))


class Mlp(nnx.Module):
  """Linear -> GELU -> Linear, without biases."""

  def __init__(self, width: int, mlp_dim: int, *, dtype: Any, rngs: nnx.Rngs):
    kw = dict(use_bias=False, dtype=dtype, param_dtype=jnp.float32, kernel_init=common.KERNEL_INIT, rngs=rngs)
    self.fc1 = nnx.Linear(width, mlp_dim, **kw)
    self.fc2 = nnx.Linear(mlp_dim, width, **kw)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(jax.nn.gelu(self.fc1(x)))


class DecoderBlock(nnx.Module):
  """x + SelfAttn(LN(x)), then x + CrossAttn(LN(x), image), then x + MLP(LN(x))."""

  def __init__(self, width: int, mlp_dim: int, num_heads: int, *, memory_width: int, dtype: Any, rngs: nnx.Rngs):
    ln = lambda: nnx.LayerNorm(width, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.ln1, self.ln2, self.ln3 = ln(), ln(), ln()
    self.self_attn = Attention(width, num_heads, dtype=dtype, rngs=rngs)
    self.cross_attn = Attention(width, num_heads, kv_width=memory_width, dtype=dtype, rngs=rngs)
    self.mlp = Mlp(width, mlp_dim, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, mask: jax.Array, cross_k: jax.Array, cross_v: jax.Array,
               cache: tuple[jax.Array, jax.Array] | None = None, index: jax.Array | int = 0
               ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """cache: self-attention keys/values [B, max_len, heads, head_dim] of earlier positions; x's own are
    written at `index` and attention runs over the whole cache (mask hides the unwritten part).
    Returns the new x and the self-attention keys/values it used (the updated cache)."""
    y = self.ln1(x)
    k, v = self.self_attn.keys_values(y)
    if cache is not None:
      k = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), index, axis=1)
      v = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), index, axis=1)
    x = x + self.self_attn.attend(y, k, v, mask)
    x = x + self.cross_attn.attend(self.ln2(x), cross_k, cross_v)
    return x + self.mlp(self.ln3(x)), (k, v)


class Decoder(nnx.Module):
  """(tokens [B, L], image tokens [B, N, memory_width], causal bool [B]) -> fp32 logits [B, L, vocab_size].

  The embedding has vocab_size + 1 rows: id vocab_size is CapPa's [MASK], an input that is
  never a target, so the logits cover the tokenizer's vocabulary only. Logits start at zero
  (a uniform first prediction, loss log V) as in big_vision's CapPa decoder.
  """

  def __init__(self, *, vocab_size: int, max_len: int, width: int, depth: int, mlp_dim: int, num_heads: int,
               memory_width: int | None = None, dtype: Any = "float32", rngs: nnx.Rngs):
    if vocab_size < 1 or max_len < 1 or depth < 1:
      raise ValueError(f"vocab_size, max_len and depth must be >= 1, got {vocab_size}, {max_len}, {depth}")
    dtype = self.dtype = common.dtype_of(dtype)
    self.vocab_size, self.max_len, self.mask_id = vocab_size, max_len, vocab_size
    emb_init = nnx.initializers.normal(stddev=1 / np.sqrt(width))
    self.embedding = nnx.Embed(vocab_size + 1, width, dtype=dtype, param_dtype=jnp.float32,
                               embedding_init=emb_init, rngs=rngs)
    self.pos_embedding = nnx.Param(emb_init(rngs.params(), (1, max_len, width), jnp.float32))
    self.blocks = nnx.List([DecoderBlock(width, mlp_dim, num_heads, memory_width=memory_width or width,
                                         dtype=dtype, rngs=rngs) for _ in range(depth)])
    self.norm = nnx.LayerNorm(width, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.head = nnx.Linear(width, vocab_size, use_bias=False, dtype=dtype, param_dtype=jnp.float32,
                           kernel_init=nnx.initializers.zeros, rngs=rngs)

  def memory(self, encoded: jax.Array) -> list[tuple[jax.Array, jax.Array]]:
    """Cross-attention keys/values of each block for the image tokens: computed once per image."""
    return [block.cross_attn.keys_values(encoded.astype(self.dtype)) for block in self.blocks]

  def _embed(self, tokens: jax.Array, start: jax.Array | int = 0) -> jax.Array:
    pos = jax.lax.dynamic_slice_in_dim(self.pos_embedding[...], start, tokens.shape[1], axis=1)
    return self.embedding(tokens) + pos.astype(self.dtype)

  def _logits(self, x: jax.Array) -> jax.Array:
    return self.head(self.norm(x)).astype(jnp.float32)

  def __call__(self, tokens: jax.Array, encoded: jax.Array, causal: jax.Array | bool = True,
               memory: list[tuple[jax.Array, jax.Array]] | None = None) -> jax.Array:
    """memory: `self.memory(encoded)` when the caller runs the decoder several times on one image."""
    b, length = tokens.shape
    if length > self.max_len:
      raise ValueError(f"{length} tokens but the decoder was built for max_len={self.max_len}")
    mask = attention_mask(jnp.broadcast_to(jnp.asarray(causal, bool), (b,)), length)
    memory = self.memory(encoded) if memory is None else memory
    x = self._embed(tokens)
    for block, (ck, cv) in zip(self.blocks, memory, strict=True):
      x, _ = block(x, mask, ck, cv)
    return self._logits(x)

  def init_cache(self, encoded: jax.Array) -> Cache:
    """Empty self-attention keys/values for max_len positions, and the image's cross keys/values."""
    b = encoded.shape[0]
    cache = []
    for block, (ck, cv) in zip(self.blocks, self.memory(encoded), strict=True):
      shape = (b, self.max_len, block.self_attn.num_heads, block.self_attn.head_dim)
      cache.append((jnp.zeros(shape, self.dtype), jnp.zeros(shape, self.dtype), ck, cv))
    return cache

  def step(self, token: jax.Array, index: jax.Array | int, cache: Cache) -> tuple[jax.Array, Cache]:
    """One causal decoding step: token int [B] at position `index` -> (logits [B, vocab], updated cache)."""
    x = self._embed(token[:, None], index)
    # Only positions <= index hold keys written so far; the rest are zeros to ignore.
    mask = (jnp.arange(self.max_len) <= index)[None, None, None, :]
    new_cache = []
    for block, (sk, sv, ck, cv) in zip(self.blocks, cache, strict=True):
      x, (sk, sv) = block(x, mask, ck, cv, cache=(sk, sv), index=index)
      new_cache.append((sk, sv, ck, cv))
    return self._logits(x)[:, 0], new_cache


def _check_length(decoder: Decoder, length: int | None) -> int:
  length = decoder.max_len if length is None else length
  if not 1 <= length <= decoder.max_len:
    raise ValueError(f"length must be in [1, {decoder.max_len}], got {length}")
  return length


def _forced(b: int, length: int, prefix: jax.Array | None, prefix_len: jax.Array | None
            ) -> tuple[jax.Array, jax.Array]:
  """(int32 [B, length] forced tokens, int32 [B] how many of them each row takes; 0 without a prefix)."""
  if prefix is None:
    prefix, prefix_len = jnp.zeros((b, 0), jnp.int32), jnp.zeros((b,), jnp.int32)
  elif prefix_len is None:
    prefix_len = jnp.full((b,), prefix.shape[1], jnp.int32)
  forced = jnp.zeros((b, length), jnp.int32).at[:, :min(prefix.shape[1], length)].set(
      prefix[:, :length].astype(jnp.int32))
  return forced, jnp.asarray(prefix_len, jnp.int32)


def greedy_decode(decoder: Decoder, encoded: jax.Array, *, length: int | None = None, start_id: int = 0,
                  prefix: jax.Array | None = None, prefix_len: jax.Array | None = None) -> jax.Array:
  """int32 [B, length] argmax tokens, fed back one at a time through the KV cache.

  Starts from `start_id` (0, the pad id that shift_right puts first in teacher forcing)
  and keeps going after EOS; Tokenizer.decode stops at the first EOS. prefix int [B, P]
  with prefix_len int [B] (default: P): those tokens are forced as the first outputs of
  each row, so the model continues a prompt (LocCa's `aref: ... :`) of any length per row.
  """
  length = _check_length(decoder, length)
  b = encoded.shape[0]
  forced, prefix_len = _forced(b, length, prefix, prefix_len)

  def body(carry: tuple[jax.Array, Cache], index: jax.Array) -> tuple[tuple[jax.Array, Cache], jax.Array]:
    token, cache = carry
    logits, cache = decoder.step(token, index, cache)
    nxt = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    nxt = jnp.where(index < prefix_len, forced[:, index], nxt)
    return (nxt, cache), nxt

  start = jnp.full((b,), start_id, jnp.int32)
  _, tokens = jax.lax.scan(body, (start, decoder.init_cache(encoded)), jnp.arange(length))
  return tokens.T


# Log-probability of a beam slot no hypothesis fills yet: below any real score, and finite, so sums
# and divisions on it never make NaN.
_EMPTY = -1e30


def length_normaliser(num_tokens: jax.Array, alpha: float) -> jax.Array:
  """GNMT's length penalty ((5 + n) / 6) ** alpha: beams rank by log-prob / this (alpha 0: plain log-prob)."""
  return ((5.0 + jnp.maximum(num_tokens, 0).astype(jnp.float32)) / 6.0) ** alpha


def beam_decode(decoder: Decoder, encoded: jax.Array, *, beam_size: int, length: int | None = None,
                start_id: int = 0, eos_id: int = 1, pad_id: int = 0, prefix: jax.Array | None = None,
                prefix_len: jax.Array | None = None, length_penalty: float = 0.0) -> tuple[jax.Array, jax.Array]:
  """(int32 [B, length] best sequences, float32 [B] their log-probs): beam search through the KV cache.

  The beam holds beam_size hypotheses, finished or not, in one pool: each step every live
  hypothesis extends by each token and the best beam_size candidates survive, ranked by
  log-prob / length_normaliser(generated tokens, length_penalty). A hypothesis ends at its
  first EOS: it then only carries pad_id with probability one, so its log-prob stops
  accumulating; a hypothesis without EOS ends at `length`. With beam_size 1 this is
  greedy_decode up to the first EOS (pad after it, where greedy goes on).

  prefix / prefix_len force a prompt as in greedy_decode; the returned log-prob is that of
  the generated tokens given the prompt (the prompt's own tokens are not scored). The
  cache is tiled per beam and reordered by each step's surviving parents.
  """
  length = _check_length(decoder, length)
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1, got {beam_size}")
  b, k, v = encoded.shape[0], beam_size, decoder.vocab_size
  forced, prefix_len = _forced(b, length, prefix, prefix_len)
  positions = jnp.arange(length)
  # Every beam of a row starts as the same empty hypothesis: only slot 0 is live, or the
  # first step would fill the beam with copies of one candidate.
  init = (
      jnp.full((b * k,), start_id, jnp.int32),  # each beam's last token, the next step's input
      [tuple(jnp.repeat(x, k, axis=0) for x in layer) for layer in decoder.init_cache(encoded)],
      jnp.full((b, k, length), pad_id, jnp.int32),  # sequences
      jnp.tile(jnp.where(jnp.arange(k) == 0, 0.0, _EMPTY), (b, 1)),  # log-probs
      jnp.zeros((b, k), bool),  # ended (at an EOS)
      jnp.zeros((b, k), jnp.int32),  # generated tokens, the EOS included: what the length penalty counts
  )
  rows = jnp.arange(b)[:, None]
  vocab = jnp.arange(v)

  def body(carry: tuple, index: jax.Array) -> tuple[tuple, None]:
    token, cache, seqs, logp, ended, count = carry
    logits, cache = decoder.step(token, index, cache)
    step = jax.nn.log_softmax(logits, axis=-1).reshape(b, k, v)
    is_forced = index < prefix_len  # [B]
    step = jnp.where(is_forced[:, None, None], jnp.where(vocab == forced[:, index, None, None], 0.0, _EMPTY), step)
    # An ended hypothesis has one continuation, pad, that adds nothing.
    step = jnp.where(ended[..., None], jnp.where(vocab == pad_id, 0.0, _EMPTY), step)
    cand = (logp[..., None] + step).reshape(b, k * v)  # candidate j: parent j // v, token j % v
    cand_token = jnp.tile(vocab, k)[None, :]
    parent_ended = jnp.repeat(ended, v, axis=1)
    cand_ended = parent_ended | ((cand_token == eos_id) & ~is_forced[:, None])
    cand_count = jnp.where(parent_ended, jnp.repeat(count, v, axis=1),
                           jnp.maximum(index + 1 - prefix_len, 0)[:, None])
    _, best = jax.lax.top_k(cand / length_normaliser(cand_count, length_penalty), k)
    parent, new_token = best // v, best % v
    seqs = jnp.where(positions == index, new_token[..., None], seqs[rows, parent])
    flat = (rows * k + parent).reshape(-1)
    # Cross-attention keys/values are the row's image for every beam: only self-attention reorders.
    cache = [(sk[flat], sv[flat], ck, cv) for sk, sv, ck, cv in cache]
    pick = lambda x: jnp.take_along_axis(x, best, axis=1)
    return (new_token.reshape(-1), cache, seqs, pick(cand), pick(cand_ended), pick(cand_count)), None

  (_, _, seqs, logp, _, _), _ = jax.lax.scan(body, init, positions)
  # top_k sorts: slot 0 holds the best-ranked hypothesis.
  return seqs[:, 0], logp[:, 0]
