"""SILC (sigmoid on global views + lambda x self-distillation) and SigLIP 2's schedule: `silc.py:tiny`, `silc.py:siglip2`.

The objective is loss.name=silc, its sigmoid loss (`loss`: dense | ring | chunked) in loss.sigmoid.
Takes siglip.py's arguments, plus:
  weight     lambda: the self-distillation weight (SILC; SigLIP 2 uses 1 x size factor)
  masked     masked-prediction weight (0: off; SigLIP 2 uses 0.25 x size factor)
  siglip2    SigLIP 2's schedule: extra losses off until `switch` x steps, teacher copied there
  switch     fraction of training at which SigLIP 2 switches self-distillation on (default 0.8)
  local_res  side of the local crops; num_local: how many; protos: K, the prototype count
"""

from __future__ import annotations

import ml_collections

from webpairs.configs import loader
from webpairs.configs.pretrain import siglip
from webpairs.pretrain.objectives.silc.objective import size_factor

# Passed on to siglip.py as text; the paths (which may hold commas) are set afterwards.
_SIGLIP_KEYS = ("variant", "txt", "res", "batch", "steps", "loss", "max_len")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = loader.parse_arg(arg, variant="B/16", txt="", res=224, batch=32_768, steps=100_000, loss="ring",
                         max_len=64, shards="", tokenizer="", eval_shards="", tiny=False, weight=1.0,
                         masked=-1.0, siglip2=False, switch=0.8, local_res=-1, num_local=4, protos=-1)
  c = siglip.get_config(",".join(f"{k}={arg[k]}" for k in _SIGLIP_KEYS) + (",tiny" if arg.tiny else ""))
  c.input.shards = arg.shards
  c.input.tokenizer = arg.tokenizer
  c.evals.retrieval["shards"] = arg.eval_shards
  res = c.input.res
  # The sigmoid loss on each global view; siglip2.py's objective puts its own on the input image.
  c.loss = dict(name="silc", sigmoid=c.loss["name"], chunk_size=c.loss["chunk_size"])
  s = c.silc = ml_collections.ConfigDict()
  s.num_global = 2
  s.num_local = arg.num_local
  patch = c.model.image["variant"].split("/")[-1]
  # Local crops at ~96/224 of the global side (DINO), rounded to whole patches.
  s.local_res = arg.local_res if arg.local_res > 0 else max(1, round(res * 96 / 224 / int(patch))) * int(patch)
  s.global_area = (0.4, 1.0)
  s.local_area = (0.05, 0.4)
  s.aspect = (3 / 4, 4 / 3)
  # Flips and brightness/contrast/saturation jitter per view (silc/augment.py: no hue, captions name colours).
  s.augment = dict(flip=True, jitter_prob=0.8, brightness=0.4, contrast=0.4, saturation=0.2, grayscale_prob=0.0)
  s.teacher_momentum = 0.996
  s.center_momentum = 0.9
  s.teacher_temp = 0.04
  s.student_temp = 0.1
  s.mask_ratio = 0.5
  protos = arg.protos if arg.protos > 0 else (64 if arg.tiny else 65_536 // 8)
  s.head = dict(num_prototypes=protos, hidden_dim=64 if arg.tiny else 2048, bottleneck_dim=32 if arg.tiny else 256)
  if arg.siglip2:
    # SigLIP 2: the extra losses join late, with weights that grow with the model.
    factor = size_factor(c.model.image["variant"])
    s.switch_step = int(arg.switch * c.total_steps)
    s.distill_weight = 1.0 * factor
    s.masked_weight = (0.25 if arg.masked < 0 else arg.masked) * factor
  else:
    s.switch_step = 0
    s.distill_weight = arg.weight
    s.masked_weight = max(arg.masked, 0.0)
  return c
