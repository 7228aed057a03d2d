"""ARef decoding: the prompt is forced per row whatever its length, the box is read after it."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from tests.pretrain.conftest import LOC_BINS
from webpairs.pretrain import locca_decode
from webpairs.pretrain.objectives import locca_boxes
from webpairs.tokenizers import Tokenizer


class _Decoder(nnx.Module):
  max_len = 40


class _Model(nnx.Module):
  """Stands in for a Captioner: encode() and a decoder whose only use here is max_len."""

  def __init__(self):
    self.decoder = _Decoder()
    self.w = nnx.Param(jnp.zeros(()))

  def encode(self, image):
    return image.reshape(image.shape[0], -1)[:, :2].astype(jnp.float32) + self.w[...]


def test_aref_boxes_force_each_prompt_and_parse_the_box_after_it(loc_tokenizer_dir, monkeypatch):
  tok = Tokenizer.load(loc_tokenizer_dir)
  texts = ["red circle", "a white hexagon", "star"]
  prefix, lengths = locca_decode.aref_prefix(tok, texts)
  assert lengths.tolist() == [len(tok.encode([locca_boxes.aref_prompt(t)])[0]) for t in texts]
  assert len(set(lengths.tolist())) == 3 and (prefix[0, lengths[0]:] == 0).all()
  boxes = np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.4, 0.9]])
  length = prefix.shape[1] + locca_decode.TARGET_TOKENS
  # What a model that answers perfectly would decode after each prompt; row 2 answers three coordinates only.
  continuation = np.zeros((3, length), np.int32)
  for i, box in enumerate(boxes):
    target = tok.encode([locca_boxes.box_text(box, LOC_BINS)])[0][:None if i < 2 else -1] + [tok.eos_id]
    continuation[i, lengths[i]:lengths[i] + len(target)] = target

  def fake_decode(decoder, encoded, *, length, prefix, prefix_len):
    assert encoded.shape == (3, 2) and prefix.shape == (3, length - locca_decode.TARGET_TOKENS)
    forced = jnp.zeros((3, length), jnp.int32).at[:, :prefix.shape[1]].set(prefix)
    return jnp.where(jnp.arange(length)[None] < prefix_len[:, None], forced, jnp.asarray(continuation))

  monkeypatch.setattr(locca_decode, "greedy_decode", fake_decode)
  out, parsed = locca_decode.aref_boxes(_Model(), np.zeros((3, 4, 4, 3), np.uint8), texts, tok, bins=LOC_BINS)
  assert parsed.tolist() == [True, True, False]
  want = locca_boxes.dequantize(locca_boxes.quantize(boxes[:2], LOC_BINS), LOC_BINS)
  np.testing.assert_allclose(out[:2], want)
  assert (out[2] == 0).all()
