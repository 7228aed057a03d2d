"""A captioner as a model: any model with `encode(images)` and a `.decoder` (CapPa, LocCa) scores texts by their
log-likelihood given an image and continues prompts by greedy or beam decoding, jitted over its parameters.

Texts are tokenised as the trainer's targets are (project tokenizer, one EOS, pad 0; the
run's lower-casing for captions); the decoder reads shift_right(targets) causally. Images
are encoded once per call, with the decoder's cross-attention keys/values of them, and
each text row gathers its image's on device: scoring C class prompts costs one encoder
pass per image.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain import distributed
from webpairs.pretrain.objectives import cappa
from webpairs.pretrain.models import decoder as decoder_lib
from webpairs.tokenizers import Tokenizer

_MIN_IMAGES = 8  # image batches are padded to a power of two (at least this): a handful of compilations in all
REDUCTIONS = ("sum", "mean")
Memory = list[tuple[jax.Array, jax.Array]]  # per decoder block: cross-attention keys, values [B, N, heads, head_dim]


def _padded(n: int) -> int:
  return max(_MIN_IMAGES, 1 << max(0, n - 1).bit_length())


def _pad(x: np.ndarray, size: int, value: float = 0) -> np.ndarray:
  return np.concatenate([x, np.full((size - len(x), *x.shape[1:]), value, x.dtype)]) if size > len(x) else x


@functools.partial(jax.jit, static_argnums=0)
def _encode(graphdef: Any, params: Any, consts: Any, images: jax.Array) -> tuple[jax.Array, Memory]:
  """Image tokens [B, N, D] and the decoder's cross-attention keys/values of them, once per image."""
  model = nnx.merge(graphdef, params, consts)
  encoded = model.encode(images)
  return encoded, model.decoder.memory(encoded)


@functools.partial(jax.jit, static_argnums=0)
def _score(graphdef: Any, params: Any, consts: Any, memory: Memory, labels: jax.Array, weights: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
  """(sum of weighted target log-probs [R], sum of weights [R]) of label rows given each row's image memory."""
  dec = nnx.merge(graphdef, params, consts).decoder
  logits = dec(cappa.shift_right(labels), None, True, memory=memory)  # the image tokens are in `memory`
  logp = jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), labels[..., None], axis=-1)[..., 0]
  weights = weights.astype(jnp.float32)
  return jnp.sum(logp * weights, axis=-1), jnp.sum(weights, axis=-1)


@functools.partial(jax.jit, static_argnums=0, static_argnames=("length", "beam_size", "length_penalty", "eos_id"))
def _decode(graphdef: Any, params: Any, consts: Any, encoded: jax.Array, prefix: jax.Array, prefix_len: jax.Array, *,
            length: int, beam_size: int, length_penalty: float, eos_id: int) -> jax.Array:
  dec = nnx.merge(graphdef, params, consts).decoder
  if beam_size == 1:
    return decoder_lib.greedy_decode(dec, encoded, length=length, prefix=prefix, prefix_len=prefix_len)
  tokens, _ = decoder_lib.beam_decode(dec, encoded, beam_size=beam_size, length=length, prefix=prefix,
                                      prefix_len=prefix_len, length_penalty=length_penalty, eos_id=eos_id,
                                      pad_id=cappa.PAD_ID)
  return tokens


class CaptionerModel:
  """A CaptioningModel (pretrain.inference.protocol) over a captioner's parameters, with prompted decoding.

  Every device call on text rows takes exactly max_rows rows (max_rows // beam_size when
  decoding), padded: one compilation however many texts a call brings. Each row holds a
  copy of its image's cross-attention keys/values, which bounds max_rows by memory.
  In a multi-process run every process calls it on the same inputs and reads whole results.
  """

  def __init__(self, graphdef: Any, params: Any, consts: Any, tokenizer: Tokenizer, *, image_size: int,
               max_len: int, lower: bool = False, max_rows: int = 256):
    if max_rows < 1:
      raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    self.image_size, self.max_len, self.lower = int(image_size), int(max_len), lower
    self.tokenizer = tokenizer
    self.max_rows = int(max_rows)
    self._args = (graphdef, params, consts)

  @classmethod
  def from_module(cls, model: nnx.Module, tokenizer: Tokenizer, **kwargs: Any) -> CaptionerModel:
    """From a live module (tests, notebooks); a checkpoint's route is inference.loader."""
    graphdef, params, consts = nnx.split(model, nnx.Param, ...)
    return cls(graphdef, params, consts, tokenizer, **kwargs)

  # Device calls.

  def encode(self, images: np.ndarray) -> tuple[jax.Array, Memory]:
    """uint8 [B, S, S, 3] -> (image tokens [B', N, D], decoder memory) of the batch padded to B' >= B images."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"expected uint8 [B, {self.image_size}, {self.image_size}, 3], got {images.dtype} "
                       f"{images.shape}")
    return _encode(*self._args, _pad(images, _padded(len(images))))

  def _image_index(self, image_index: np.ndarray | None, rows: int, images: int) -> np.ndarray:
    index = np.arange(rows) if image_index is None else np.asarray(image_index)
    if index.shape != (rows,) or (rows and (index.min() < 0 or index.max() >= images)):
      raise ValueError(f"image_index must give each of {rows} rows an image in [0, {images})")
    return index.astype(np.int32)

  def score(self, images: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
            image_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sum, per-token mean) log-likelihood of each label row's weighted targets, float64 [R] each.

    labels int [R, max_len] (targets: EOS then pad 0), weights [R, max_len] (default: the
    non-pad positions); row r is scored against images[image_index[r]] (default: image r).
    The images are encoded once; a row without weight has sum 0 and mean 0.
    """
    labels = np.asarray(labels, np.int32)
    weights = (labels != cappa.PAD_ID) if weights is None else np.asarray(weights)
    if labels.ndim != 2 or labels.shape[1] != self.max_len or weights.shape != labels.shape:
      raise ValueError(f"labels and weights must be [R, {self.max_len}], got {labels.shape} and {weights.shape}")
    index = self._image_index(image_index, len(labels), len(images))
    _, memory = self.encode(images)
    total, count = self._score_rows(memory, index, labels, weights)
    return total, total / np.maximum(count, 1.0)

  def _score_rows(self, memory: Memory, index: np.ndarray, labels: np.ndarray, weights: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    total, count = np.zeros(len(labels)), np.zeros(len(labels))
    for start in range(0, len(labels), self.max_rows):
      rows = slice(start, start + self.max_rows)
      n = len(labels[rows])
      # The gather runs outside the jitted pass, whose shapes then do not depend on the image batch.
      idx = _pad(index[rows], self.max_rows)
      s, c = _score(*self._args, [(k[idx], v[idx]) for k, v in memory], _pad(labels[rows], self.max_rows),
                    _pad(weights[rows].astype(np.float32), self.max_rows))
      total[rows], count[rows] = distributed.to_host(s).astype(np.float64)[:n], distributed.to_host(c)[:n]
    return total, count

  def decode(self, images: np.ndarray, prefix: np.ndarray, prefix_len: np.ndarray | None = None, *, length: int,
             beam_size: int = 1, length_penalty: float = 0.0, image_index: np.ndarray | None = None) -> np.ndarray:
    """int32 [R, length]: row r continues prefix[r, :prefix_len[r]] (forced as its first tokens) given
    images[image_index[r]], greedily (beam_size 1) or by beam search; EOS and what follows are kept."""
    prefix = np.asarray(prefix, np.int32).reshape(len(prefix), -1)
    prefix_len = np.full(len(prefix), prefix.shape[1], np.int32) if prefix_len is None else np.asarray(
        prefix_len, np.int32)
    if not 1 <= length <= self.max_len:
      raise ValueError(f"length must be in [1, {self.max_len}], got {length}")
    if beam_size < 1:
      raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    # One prefix width (the decode length) for every call: no compilation per prompt length.
    prefix = np.pad(prefix[:, :length], ((0, 0), (0, length - min(prefix.shape[1], length))))
    index = self._image_index(image_index, len(prefix), len(images))
    encoded, _ = self.encode(images)
    size = max(1, self.max_rows // beam_size)
    out = np.zeros((len(prefix), length), np.int32)
    for start in range(0, len(prefix), size):
      rows = slice(start, start + size)
      n = len(prefix[rows])
      tokens = _decode(*self._args, encoded[_pad(index[rows], size)], _pad(prefix[rows], size),
                       _pad(prefix_len[rows], size), length=length, beam_size=int(beam_size),
                       length_penalty=float(length_penalty), eos_id=self.tokenizer.eos_id)
      out[rows] = distributed.to_host(tokens)[:n]
    return out

  # Texts.

  def caption_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels int32 [T, max_len], weights float32): the trainer's CapPa targets of the texts (cappa.targets_from_text
    of its sticky-EOS text), weighted on every token and the EOS."""
    labels = self.tokenizer.tokenize(list(texts), self.max_len, eos="sticky", pad_value=cappa.PAD_ID,
                                     lower=self.lower)
    return labels, (labels != cappa.PAD_ID).astype(np.float32)

  def score_texts(self, images: np.ndarray, texts: Sequence[str], *, reduce: str = "sum") -> np.ndarray:
    """float [B, T]: log p(text_j | image_i) summed over the text's tokens and EOS ('sum'), or their mean ('mean')."""
    if reduce not in REDUCTIONS:
      raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    labels, weights = self.caption_rows(texts)
    b, t = len(images), len(texts)
    _, memory = self.encode(images)
    out = np.zeros((b, t), np.float32)
    # Every (image, text) pair is a row, image-major; texts go in chunks so that host arrays stay small.
    chunk = max(1, 16 * self.max_rows // max(b, 1))
    for start in range(0, t, chunk):
      cols = slice(start, start + chunk)
      n = len(labels[cols])
      total, count = self._score_rows(memory, np.repeat(np.arange(b, dtype=np.int32), n),
                                      np.tile(labels[cols], (b, 1)), np.tile(weights[cols], (b, 1)))
      out[:, cols] = (total if reduce == "sum" else total / np.maximum(count, 1.0)).reshape(b, n)
    return out

  def continue_prompts(self, images: np.ndarray, prompts: Sequence[str], *, max_new_tokens: int,
                       beam_size: int = 1, length_penalty: float = 0.0, image_index: np.ndarray | None = None
                       ) -> list[str]:
    """The decoded text each prompt continues with (up to max_new_tokens, stopping at EOS), given its image.

    Prompts are tokenised as LocCa's task prompts are (no lower-casing); a prompt that
    leaves no room in max_len continues with ''.
    """
    ids = self.tokenizer.encode(list(prompts))
    lens = np.asarray([min(len(p), self.max_len) for p in ids], np.int32)
    need = (lens.max() if len(lens) else 0) + max_new_tokens
    # Decode lengths in steps of 8: a few compilations, whatever the prompts' lengths.
    length = int(min(self.max_len, max(8, -(-need // 8) * 8)))
    prefix = np.zeros((len(ids), length), np.int32)
    for i, p in enumerate(ids):
      prefix[i, :lens[i]] = p[:lens[i]]
    tokens = self.decode(images, prefix, lens, length=length, beam_size=beam_size, length_penalty=length_penalty,
                         image_index=image_index)
    return [str(self.tokenizer.decode(row[n:n + max_new_tokens])) for row, n in zip(tokens, lens, strict=True)]
