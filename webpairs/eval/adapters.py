"""A trained SigLIP two-tower as an EmbeddingModel (a captioner as a CaptionerModel): restore a checkpoint of a
`webpairs pretrain` workdir, embed (score) in batches.

Images are embedded as the trainer sees them (uint8, square, config.input.res) and texts
are tokenised as the input pipeline does (project tokenizer, sticky EOS, pad 1).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from webpairs.eval import captioner
from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.pretrain import distributed
from webpairs.pretrain import trainer as trainer_lib
from webpairs.tokenizers import Tokenizer

_MIN_BATCH = 8  # batches are padded to a power of two (at least this): a handful of compilations in all


def _padded_size(n: int) -> int:
  return max(_MIN_BATCH, 1 << max(0, n - 1).bit_length())


@functools.partial(jax.jit, static_argnums=0)
def _embed_images(graphdef: Any, params: Any, consts: Any, image: jax.Array) -> jax.Array:
  zimg, _, _ = nnx.merge(graphdef, params, consts)(image, None)
  return zimg


@functools.partial(jax.jit, static_argnums=0)
def _embed_texts(graphdef: Any, params: Any, consts: Any, text: jax.Array) -> jax.Array:
  _, ztxt, _ = nnx.merge(graphdef, params, consts)(None, text)
  return ztxt


@functools.partial(jax.jit, static_argnums=0)
def _scale_bias(graphdef: Any, params: Any, consts: Any) -> tuple[jax.Array, jax.Array]:
  _, _, extras = nnx.merge(graphdef, params, consts)(None, None)
  return extras["t"], extras["b"]


class TwoTowerModel:
  """EmbeddingModel over a two-tower's parameters.

  The embedding functions are jitted once per (model graph, padded batch size): checkpoints
  of one run, and every eval of a training run, share the compiled code. In a multi-process
  run every process calls them on the same eval batch (replicated) and gets the whole result.
  """

  def __init__(self, trainer: trainer_lib.Trainer, params: Any, tokenizer: Tokenizer, *, image_size: int,
               max_len: int, lower: bool = False):
    self.image_size = int(image_size)
    self.max_len = int(max_len)
    self.lower = lower
    self.tokenizer = tokenizer
    graphdef, consts = trainer.graphdef, trainer.consts
    self._image_fn = lambda batch: _embed_images(graphdef, params, consts, batch)
    self._text_fn = lambda batch: _embed_texts(graphdef, params, consts, batch)
    self._scale_bias_fn = lambda: _scale_bias(graphdef, params, consts)

  @staticmethod
  def _run(fn: Callable[[np.ndarray], jax.Array], batch: np.ndarray, pad_value: int) -> np.ndarray:
    n = len(batch)
    size = _padded_size(n)
    if size > n:
      batch = np.concatenate([batch, np.full((size - n, *batch.shape[1:]), pad_value, batch.dtype)])
    return distributed.to_host(fn(batch)).astype(np.float32)[:n]

  def embed_images(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != (self.image_size, self.image_size, 3):
      raise ValueError(f"expected uint8 [B, {self.image_size}, {self.image_size}, 3], got {images.dtype} "
                       f"{images.shape}")
    return self._run(self._image_fn, images, 0)

  def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
    return self._run(self._text_fn, self.tokenize(texts), 1)

  def tokenize(self, texts: Sequence[str]) -> np.ndarray:
    """int32 [B, max_len] tokens as the input pipeline makes them (sticky EOS, pad 1)."""
    return self.tokenizer.tokenize(list(texts), self.max_len, eos="sticky", pad_value=1, lower=self.lower)

  def scale_and_bias(self) -> tuple[np.float32, np.float32]:
    """(t, b) of the pair logit t * cos + b the model was trained with (the sigmoid loss's)."""
    t, b = self._scale_bias_fn()
    return np.float32(distributed.to_host(t)), np.float32(distributed.to_host(b))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a `webpairs pretrain` run saved in its workdir."""
  path = os.path.join(workdir, trainer_lib.CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a `webpairs pretrain` workdir?")
  with open(path, encoding="utf-8") as f:
    return ml_collections.ConfigDict(json.load(f))


def load_checkpoint(workdir: str, step: int | None = None, *, tokenizer: str | None = None
                    ) -> tuple[TwoTowerModel | captioner.CaptionerModel, int]:
  """(model, step) from the workdir's checkpoint at `step` (default: the newest one)."""
  config = load_config(workdir)
  ckpt_dir = os.path.join(workdir, trainer_lib.CHECKPOINT_DIR)
  checkpointer = ckpt_lib.Checkpointer(ckpt_dir, every=1, keep=int(config.get("keep_ckpts", 3)))
  try:
    # Which steps exist is cheap to learn; building the model is not: check first.
    steps = checkpointer.all_steps()
    if not steps:
      raise FileNotFoundError(f"no checkpoints in {ckpt_dir}")
    if step is None:
      step = steps[-1]
    elif step not in steps:
      raise FileNotFoundError(f"no checkpoint of step {step} in {ckpt_dir}; there are {steps}")
    tok_path = tokenizer or config.input.tokenizer
    if not os.path.exists(tok_path):
      raise FileNotFoundError(f"the run's tokenizer {tok_path} is gone; give its SentencePiece model (--tokenizer)")
    tok = Tokenizer.load(tok_path)
    trainer = trainer_lib.Trainer(config, vocab_size=tok.vocab_size)
    state, _ = checkpointer.restore(step, trainer.abstract_with_shardings())
  finally:
    checkpointer.close()
  return from_trainer(trainer, state["params"], tok), int(step)


def from_trainer(trainer: trainer_lib.Trainer, params: Any, tokenizer: Tokenizer
                 ) -> TwoTowerModel | captioner.CaptionerModel:
  """The model being trained, for evals the trainer runs on schedule (no checkpoint round trip).

  A captioner (config.model_name 'captioner') becomes a CaptionerModel: it scores texts
  instead of embedding them, and decodes (ARef boxes).
  """
  inp = trainer.config.input
  kw = dict(image_size=inp.res, max_len=inp.max_len, lower=bool(inp.get("lower", False)))
  if trainer.config.get("model_name", "two_towers") == "captioner":
    return captioner.CaptionerModel(trainer.graphdef, params, trainer.consts, tokenizer, **kw)
  return TwoTowerModel(trainer, params, tokenizer, **kw)
