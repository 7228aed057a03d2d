"""LocCa (Cap + ARef + GCap from one image encoding) on curated shards with regions: `locca.py:variant=B/16` or
`locca.py:tiny`.

Arguments (comma-separated, cast to the defaults' types):
  variant   image encoder, NAME/PATCH; dec: decoder variant (default: the encoder's sizes, half its depth)
  dec_depth decoder depth (0: half the encoder's)
  res, batch, steps, max_len (caption tokens); region_max_len: tokens per ARef/GCap row (0: max_len)
  p         probability of parallel prediction per example, Cap task only: 0.5, locca.LocCa's default (the
            region tasks keep a causal decoder; CapPa alone uses 0.75)
  bins      box quantisation bins per coordinate (500, as LocCa)
  style     loc: <locNNNN> pieces (the tokenizer needs --loc-tokens >= bins) | int: integers as text
  loss_on   target: loss on the box / region text only | all: on the prompt too
  shards / tokenizer: data and SentencePiece model paths
  tiny      a CPU-sized preset (mu/8 at 32 px, batch 64, 32 bins), as siglip.py:tiny
Regions are read from each example's json (config.input.regions) and follow its crop.
Optimizer, mesh, logging and checkpoint settings are SigLIP's (configs/siglip.py).
"""

from __future__ import annotations

import ml_collections

from webpairs.configs import loader
from webpairs.configs.pretrain import cappa as cappa_config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = loader.parse_arg(arg, variant="B/16", dec="", dec_depth=0, res=224, batch=8192, steps=100_000,
                         max_len=64, region_max_len=0, p=0.5, bins=500, style="loc", loss_on="target",
                         shards="", tokenizer="", tiny=False)
  if arg.tiny:  # only where the caller left the default
    arg.bins = 32 if arg.bins == 500 else arg.bins
    arg.region_max_len = 24 if arg.region_max_len == 0 else arg.region_max_len
  # The captioner itself is CapPa's (same encoder, decoder, optimizer); LocCa changes the input and the loss.
  keys = ("variant", "dec", "dec_depth", "res", "batch", "steps", "max_len")
  c = cappa_config.get_config(",".join([f"{k}={arg[k]}" for k in keys if arg[k] != ""] + ["tiny"] * arg.tiny))
  c.input.shards, c.input.tokenizer = arg.shards, arg.tokenizer  # paths may hold commas: not passed as arguments
  c.input.regions = True
  c.input.region_max_len = arg.region_max_len or c.input.max_len
  c.input.region_min_visible = 0.5  # a region less than half inside a crop is not asked about
  c.loss = {"name": "locca", "parallel_prob": arg.p, "eos_id": 1, "bins": arg.bins, "style": arg.style,
            "loss_on": arg.loss_on, "task_weights": {"cap": 1.0, "aref": 1.0, "gcap": 1.0}}
  return c
