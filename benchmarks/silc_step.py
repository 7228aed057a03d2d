"""SILC and SigLIP 2-stage train-step time relative to SigLIP alone, measured in the same run on synthetic batches.

  .venv/bin/python benchmarks/silc_step.py --variant B/16 --res 224 --batch 256 --steps 10
  .venv/bin/python benchmarks/silc_step.py --tiny   # mu/8 at 32 px, on a CPU

SILC: sigmoid on 2 global views + self-distillation with local crops. SigLIP 2 stage: the
same after the switch, plus masked prediction (LocCa, issue 7, is not part of this step).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import ml_collections
import numpy as np

from webpairs.pretrain import config_lib, trainer


def time_steps(config: ml_collections.ConfigDict, vocab: int, steps: int) -> dict[str, float]:
  """Compile-and-init seconds and the mean seconds of `steps` steps after a warm-up step."""
  t0 = time.perf_counter()
  tr = trainer.trainer_class(config)(config, vocab_size=vocab)
  state = tr.init_state()
  rng = np.random.default_rng(0)
  batch, res, max_len = config.input.batch_size, config.input.res, config.input.max_len
  host = {"image": rng.integers(0, 256, (batch, res, res, 3), dtype=np.uint8),
          "text": rng.integers(3, vocab, (batch, max_len), dtype=np.int32)}
  data = {k: jax.device_put(v, tr.batch_sharding) for k, v in host.items()}
  state, m = tr.step(state, data)  # compiles
  jax.block_until_ready(m)
  setup_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(steps):
    state, m = tr.step(state, data)
  jax.block_until_ready((state, m))
  return {"compile_and_init_s": round(setup_s, 2), "step_s": (time.perf_counter() - t0) / steps,
          "params": tr.num_params()}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--variant", default="B/16")
  p.add_argument("--res", type=int, default=224)
  p.add_argument("--batch", type=int, default=256, help="global batch")
  p.add_argument("--loss", default="ring", choices=("dense", "ring", "chunked"))
  p.add_argument("--dtype", default="bfloat16")
  p.add_argument("--vocab", type=int, default=32_000)
  p.add_argument("--steps", type=int, default=10, help="timed steps (after one warm-up step)")
  p.add_argument("--tiny", action="store_true", help="the tiny preset: mu/8, 32 px, batch 64, fp32")
  args = p.parse_args()

  common = "tiny" if args.tiny else f"variant={args.variant},res={args.res},batch={args.batch},loss={args.loss}"
  configs = {"siglip": config_lib.load(f"siglip:{common}"), "silc": config_lib.load(f"silc:{common}"),
             "siglip2_stage": config_lib.load(f"silc:{common},siglip2")}
  configs["siglip2_stage"].silc.switch_step = 0  # time the step after the switch
  if not args.tiny:
    for c in configs.values():
      c.model.dtype = args.dtype
  out = {name: time_steps(c, args.vocab, args.steps) for name, c in configs.items()}
  base = out["siglip"]["step_s"]
  for name, r in out.items():
    r["relative_to_siglip"] = round(r["step_s"] / base, 3)
    r["step_s"] = round(r["step_s"], 4)
  out["device_kind"] = jax.devices()[0].device_kind
  print(json.dumps(out))
  for name in configs:
    print(f"{name}: {out[name]['step_s'] * 1e3:.1f} ms/step = {out[name]['relative_to_siglip']} x SigLIP")


if __name__ == "__main__":
  main()
