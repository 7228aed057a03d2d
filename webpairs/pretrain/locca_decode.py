"""ARef by decoding: `aref: {text} :` forced as the decoder's prefix, a greedy continuation, the box parsed back
(locca_boxes.parse_box). IoU against the true box is webpairs.eval.metrics.box_iou."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from webpairs.pretrain.objectives import locca_boxes
from webpairs.pretrain.models.decoder import greedy_decode
from webpairs.tokenizers import Tokenizer

TARGET_TOKENS = 12  # decoded past the prompt: a leading space, four <loc> pieces and EOS, or integer text


def aref_prefix(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """(prompt ids int32 [B, P] padded with 0, lengths int32 [B]) of `aref: {text} :` as training wrote them."""
  ids = tokenizer.encode([locca_boxes.aref_prompt(t) for t in texts])
  lengths = np.array([len(r) for r in ids], np.int32)
  out = np.zeros((len(ids), max(1, int(lengths.max(initial=0)))), np.int32)
  for i, row in enumerate(ids):
    out[i, :len(row)] = row
  return out, lengths


@functools.partial(jax.jit, static_argnums=(0, 5))
def _decode(graphdef: Any, state: Any, image: jax.Array, prefix: jax.Array, prefix_len: jax.Array, length: int
            ) -> jax.Array:
  model = nnx.merge(graphdef, state)
  return greedy_decode(model.decoder, model.encode(image), length=length, prefix=prefix, prefix_len=prefix_len)


def aref_boxes(model: Any, images: np.ndarray, texts: Sequence[str], tokenizer: Tokenizer, *,
               bins: int = locca_boxes.DEFAULT_BINS, style: str = "loc") -> tuple[np.ndarray, np.ndarray]:
  """A Captioner's boxes for (image, referring text) pairs -> (float [B, 4] boxes, bool [B] parsed).

  Rows whose continuation holds no valid box get parsed False and a zero box (IoU 0).
  """
  prefix, prefix_len = aref_prefix(tokenizer, texts)
  length = min(model.decoder.max_len, prefix.shape[1] + TARGET_TOKENS)
  graphdef, state = nnx.split(model)
  tokens = np.asarray(jax.device_get(_decode(graphdef, state, jnp.asarray(images), jnp.asarray(prefix),
                                             jnp.asarray(prefix_len), length)))
  boxes, parsed = np.zeros((len(texts), 4)), np.zeros(len(texts), bool)
  for i, n in enumerate(prefix_len):
    box = locca_boxes.parse_box(tokenizer.decode(tokens[i, n:]), bins, style)
    if box is not None:
      boxes[i], parsed[i] = box, True
  return boxes, parsed
