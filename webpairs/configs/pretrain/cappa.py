"""CapPa (captioning with parallel prediction) on curated shards: `cappa.py:variant=B/16` or `cappa.py:tiny`.

Arguments (comma-separated, cast to the defaults' types):
  variant   image encoder, NAME/PATCH; dec: decoder variant (default: the encoder's sizes, half its depth)
  dec_depth decoder depth (0: half the encoder's)
  res, batch, steps, max_len; p: probability of parallel prediction per example (CapPa: 0.75)
  shards / tokenizer: data and SentencePiece model paths
  eval_root   eval data root holding synthetic/ (`webpairs eval --write-synthetic ROOT/synthetic`): caption
              zero-shot and caption perplexity there; eval_shards: held-out curated shards for perplexity
  eval_every  run those evals every this many steps (0: only at the end)
  tiny      a CPU-sized preset (mu/8 at 32 px, batch 64), as siglip.py:tiny
Optimizer, mesh, logging and checkpoint settings are SigLIP's (configs/siglip.py).
"""

from __future__ import annotations

import ml_collections

from webpairs.configs import evals, loader
from webpairs.configs.pretrain import siglip


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = loader.parse_arg(arg, variant="B/16", dec="", dec_depth=0, res=224, batch=8192, steps=100_000,
                         max_len=64, p=0.75, shards="", tokenizer="", eval_root="", eval_shards="",
                         eval_every=0, tiny=False)
  if arg.tiny:  # only where the caller left the default
    arg.variant = "mu/8" if arg.variant == "B/16" else arg.variant
    arg.res = 32 if arg.res == 224 else arg.res
    arg.batch = 64 if arg.batch == 8192 else arg.batch
    arg.steps = 600 if arg.steps == 100_000 else arg.steps
    arg.max_len = 16 if arg.max_len == 64 else arg.max_len
  c = siglip.get_config("tiny" if arg.tiny else None)
  c.total_steps = arg.steps
  c.input.shards = arg.shards
  c.input.tokenizer = arg.tokenizer
  c.input.batch_size = arg.batch
  c.input.res = arg.res
  c.input.max_len = arg.max_len
  c.optax.warmup_steps = max(1, arg.steps // 20)

  c.model_name = "captioner"
  c.model = ml_collections.ConfigDict()
  # pool_type is forced to "none" by the captioner: the decoder cross-attends to every patch token.
  c.model.image = dict(variant=arg.variant, posemb="learn")
  c.model.decoder = dict(variant=arg.dec or None, depth=arg.dec_depth or None)
  c.model.dtype = "float32" if arg.tiny else "bfloat16"
  c.model.remat = False

  # The pipeline's text (sticky EOS) becomes targets with one EOS and pad 0 on device (cappa.targets_from_text).
  c.loss = dict(name="cappa", parallel_prob=arg.p, eos_id=1)
  # Captioners score texts instead of embedding them: the registry's caption evals (webpairs.eval.captioner),
  # not SigLIP's held-out retrieval, which needs two towers.
  c.evals = ml_collections.ConfigDict()
  if arg.eval_root:
    for name in evals.SUITES["synthetic_captioner"]:
      c.evals[name] = dict(evals.EVALS[name], every_steps=arg.eval_every)
  if arg.eval_shards:
    c.evals.held_out_perplexity = dict(type="caption_perplexity", dataset="curated", data_dir=arg.eval_shards,
                                       every_steps=arg.eval_every, max_examples=1000)
  # Typed evals need a data root; a relative eval_shards path alone resolves against the working directory.
  c.eval_data_root = arg.eval_root or ("." if arg.eval_shards else "")
  return c
