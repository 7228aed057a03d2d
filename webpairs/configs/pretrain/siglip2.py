"""SigLIP 2: sigmoid + LocCa on one image encoder from the start, self-distillation and masked prediction from a
fraction of training on: `siglip2.py:variant=B/16` or `siglip2.py:tiny`.

The objective is loss.name=siglip2. Built from silc.py's `siglip2` schedule and locca.py's
decoder, loss and region input, so each keeps one definition. Arguments (comma-separated, cast to the defaults' types):
  variant, txt, res, batch, steps, max_len, shards, tokenizer, eval_shards, tiny: as siglip.py
  loss          the sigmoid part: dense | ring | chunked
  switch        fraction of training at which self-distillation (1 x size factor) and masked
                prediction (`masked`, default 0.25, x size factor) switch on; the teacher is copied there
  local_res, num_local, protos: as silc.py
  dec, dec_depth, region_max_len, p, bins, style, loss_on: LocCa's, as locca.py
  locca_weight  weight of the LocCa loss next to the sigmoid loss's 1 (SigLIP 2: equal)
"""

from __future__ import annotations

import ml_collections

from webpairs.configs import loader
from webpairs.configs.pretrain import locca as locca_config
from webpairs.configs.pretrain import silc as silc_config

# Passed on as text (the paths, which may hold commas, are set afterwards).
_SILC_KEYS = ("variant", "txt", "res", "batch", "steps", "loss", "max_len", "switch", "masked", "local_res",
              "num_local", "protos")
_LOCCA_KEYS = ("variant", "dec", "dec_depth", "max_len", "region_max_len", "p", "bins", "style", "loss_on")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = loader.parse_arg(arg, variant="B/16", txt="", res=224, batch=32_768, steps=100_000, loss="ring",
                         max_len=64, shards="", tokenizer="", eval_shards="", tiny=False, switch=0.8,
                         masked=-1.0, local_res=-1, num_local=4, protos=-1, dec="", dec_depth=0,
                         region_max_len=0, p=0.5, bins=500, style="loc", loss_on="target", locca_weight=1.0)
  tiny = ["tiny"] * arg.tiny
  c = silc_config.get_config(",".join([f"{k}={arg[k]}" for k in _SILC_KEYS] + ["siglip2"] + tiny))
  c.input.shards, c.input.tokenizer = arg.shards, arg.tokenizer
  c.evals.retrieval["shards"] = arg.eval_shards
  loc = locca_config.get_config(",".join([f"{k}={arg[k]}" for k in _LOCCA_KEYS if arg[k] != ""] + tiny))

  # One image tower: its MAP-pooled output meets the text in the sigmoid loss, its patch tokens the decoder.
  c.model_name = "siglip2"
  c.model.decoder = dict(loc.model.decoder)
  c.input.regions = True
  c.input.region_max_len = loc.input.region_max_len
  c.input.region_min_visible = loc.input.region_min_visible
  # Sigmoid and LocCa (siglip_locca) on the input images; the crops serve self-distillation only.
  c.loss = dict(loc.loss, name="siglip2", sigmoid=c.loss["sigmoid"], chunk_size=c.loss["chunk_size"],
                sigmoid_weight=1.0, locca_weight=arg.locca_weight)
  return c
