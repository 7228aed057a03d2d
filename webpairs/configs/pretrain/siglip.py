"""SigLIP (sigmoid-loss two towers) on curated shards: `siglip.py:variant=B/16,res=224,batch=32768` or `siglip.py:tiny`.

Arguments (comma-separated, cast to the defaults' types):
  variant   image tower, NAME/PATCH (mu, Ti, S, M, B, L, So400m with a patch size)
  txt       text tower variant (default: the image variant's NAME)
  res       image side in pixels; batch: global batch; steps: total steps
  loss      dense | ring | chunked; shards / tokenizer: data and SentencePiece model paths
  tiny      a CPU-sized preset (mu/8 at 32 px, batch 64) that trains in minutes on two cores
"""

from __future__ import annotations

import ml_collections

from webpairs.configs import loader
from webpairs.pretrain import xla_flags


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = loader.parse_arg(arg, variant="B/16", txt="", res=224, batch=32_768, steps=100_000, loss="ring",
                         max_len=64, shards="", tokenizer="", eval_shards="", tiny=False)
  tiny = arg.tiny
  if tiny:  # only where the caller left the default
    arg.variant = "mu/8" if arg.variant == "B/16" else arg.variant
    arg.res = 32 if arg.res == 224 else arg.res
    arg.batch = 64 if arg.batch == 32_768 else arg.batch
    arg.steps = 600 if arg.steps == 100_000 else arg.steps
    arg.loss = "dense" if arg.loss == "ring" else arg.loss

  c = ml_collections.ConfigDict()
  c.seed = 0
  c.total_steps = arg.steps

  c.input = ml_collections.ConfigDict()
  c.input.shards = arg.shards  # comma-separated globs or folders of curated shard-*.tar
  c.input.tokenizer = arg.tokenizer  # a SentencePiece .model, or a folder with spm.model
  c.input.batch_size = arg.batch  # global, over all hosts and devices
  c.input.res = arg.res
  c.input.max_len = arg.max_len
  c.input.lower = False
  c.input.augment = "none"  # SigLIP trains on plain resizes; "inception_crop" for small data
  c.input.min_area = 0.5
  c.input.num_workers = 1 if tiny else -1  # decode processes per host; -1: one per core less two
  c.input.seed = 0
  # Input streams, each reading every n-th shard (0: one per process). Fix it to resume a run
  # on another number of processes (any that divides it); the data depends on it, not on them.
  c.input.streams = 0

  c.model_name = "two_towers"
  c.model = ml_collections.ConfigDict()
  c.model.image = dict(variant=arg.variant, pool_type="map", posemb="learn")
  c.model.text = dict(variant=arg.txt or arg.variant.split("/")[0], pool_type="last")
  c.model.out_dim = ml_collections.FieldReference(None, field_type=int)
  c.model.temperature_init = 10.0
  c.model.bias_init = -10.0
  # bf16 matmuls with fp32 parameters and fp32 loss maths; CPUs are slow at bf16.
  c.model.dtype = "float32" if tiny else "bfloat16"
  c.model.remat = False
  # The encoders' attention: nnx | xla | cudnn | auto (models/common.py; None: its DEFAULT_ATTENTION).
  c.model.attention = ml_collections.FieldReference(None, field_type=str)

  c.loss = dict(name=arg.loss, chunk_size=4096)

  c.optax = ml_collections.ConfigDict()
  c.optax.name = "adamw"  # or "adafactor" (factored second moments: less optimizer memory)
  c.optax.lr = 3e-3 if tiny else 1e-3
  c.optax.wd = 1e-4  # decoupled: scaled by the schedule, not by lr; kernels only
  c.optax.b1 = 0.9
  c.optax.b2 = 0.95 if tiny else 0.999
  c.optax.grad_clip = 1.0
  c.optax.warmup_steps = max(1, arg.steps // 20)
  c.optax.decay = "cosine"
  c.optax.mu_dtype = ml_collections.FieldReference(None, field_type=str)  # e.g. "bfloat16" for big models

  # XLA's documented-safe GPU flags (xla_flags.py), read by `webpairs pretrain` before JAX starts.
  c.xla_gpu_flags = xla_flags.DEFAULT
  c.mesh = dict(data=-1)  # devices on the data axis (-1: all)
  c.sharding = "replicate"  # or "fsdp": parameters and optimizer state split over the data axis
  c.fsdp_min_size = 2**14  # FSDP leaves arrays with fewer elements replicated

  c.log_every = 10 if tiny else 50
  c.ckpt_every = 100 if tiny else 1000
  c.keep_ckpts = 3

  c.evals = ml_collections.ConfigDict()
  c.evals.retrieval = dict(shards=arg.eval_shards, every=0, max_examples=1000, batch_size=256)
  # Typed entries ({type, dataset, every_steps, ...}, see webpairs/configs/evals.py) run through
  # the eval registry on schedule and at the end, on images under eval_data_root.
  c.eval_data_root = ""
  return c
