"""A `webpairs pretrain` workdir's checkpoint as an inference model: the saved config, the model graph from the
model factory and the checkpoint's parameters alone (no optimizer state, no train step)."""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
from flax import nnx

from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.pretrain import model_factory, sharding
from webpairs.pretrain.inference.captioner import CaptionerModel
from webpairs.pretrain.inference.two_tower import TwoTowerModel
from webpairs.tokenizers import Tokenizer


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a `webpairs pretrain` run saved in its workdir."""
  path = os.path.join(workdir, ckpt_lib.CONFIG_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} not found: is {workdir} a `webpairs pretrain` workdir?")
  with open(path, encoding="utf-8") as f:
    return ml_collections.ConfigDict(json.load(f))


def from_params(config: ml_collections.ConfigDict, graphdef: Any, params: Any, consts: Any, tokenizer: Tokenizer
                ) -> TwoTowerModel | CaptionerModel:
  """The model over these parameters (a checkpoint's, or the live ones of a training run).

  A captioner (config.model_name 'captioner') becomes a CaptionerModel: it scores texts
  instead of embedding them, and decodes (ARef boxes).
  """
  inp = config.input
  kw = dict(image_size=inp.res, max_len=inp.max_len, lower=bool(inp.get("lower", False)))
  if config.get("model_name", "two_towers") == "captioner":
    return CaptionerModel(graphdef, params, consts, tokenizer, **kw)
  return TwoTowerModel(graphdef, params, consts, tokenizer, **kw)


def abstract_model(config: ml_collections.ConfigDict, vocab_size: int, placement: jax.sharding.Sharding
                   ) -> tuple[Any, Any, Any]:
  """(graph definition, parameter shapes as a pure dict, non-trainable constants placed as `placement` says).

  The constants (a fixed sincos position embedding) are never checkpointed: they are rebuilt
  from the config as the trainer builds them (from its seed's first key).
  """
  build = model_factory.model_builder(config, vocab_size)
  graphdef, abstract, _ = nnx.split(nnx.eval_shape(lambda: build(0)), nnx.Param, ...)
  rng = jax.random.split(jax.random.PRNGKey(config.seed))[0]
  # XLA drops the parameter initialisers the constants do not need.
  consts = jax.jit(lambda r: nnx.to_pure_dict(nnx.split(build(r), nnx.Param, ...)[2]), out_shardings=placement)(rng)
  return graphdef, nnx.to_pure_dict(abstract), consts


def load_checkpoint(workdir: str, step: int | None = None, *, tokenizer: str | None = None
                    ) -> tuple[TwoTowerModel | CaptionerModel, int]:
  """(model, step) from the workdir's checkpoint at `step` (default: the newest one), parameters replicated."""
  config = load_config(workdir)
  ckpt_dir = os.path.join(workdir, ckpt_lib.CHECKPOINT_DIR)
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
    replicated = sharding.replicated(sharding.make_mesh())
    graphdef, abstract, consts = abstract_model(config, tok.vocab_size, replicated)
    params = checkpointer.restore_params(
        step, jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), abstract))
  finally:
    checkpointer.close()
  return from_params(config, graphdef, params, consts, tok), int(step)
