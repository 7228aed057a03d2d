"""Train-step throughput: examples/s, XLA's FLOPs per step against the 6*N*T estimate, and MFU on a known accelerator.

Synthetic batches (random pixels and tokens) on all local devices, so only the model,
loss, optimizer and sharding are measured, not the input pipeline.

  .venv/bin/python benchmarks/train_step.py --variant B/16 --res 224 --batch 256 --steps 20
  .venv/bin/python benchmarks/train_step.py --tiny   # mu/8 at 32 px, seconds on a CPU
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from webpairs.pretrain import config_lib, metrics, trainer


def analytic_flops(tr: trainer.Trainer, batch: int, res: int, max_len: int, patch: int) -> float:
  """6 * weights * tokens (forward 2, backward 4 per weight and token), per tower.

  Not counted: attention scores, the loss, and the token-embedding table (a lookup, not a matmul).
  """
  params = tr.abstract_state["params"]
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  txt_weights = count(params["txt"]) - count(params["txt"]["embedding"])
  img_tokens = (res // patch) ** 2
  return 6.0 * batch * (count(params["img"]) * img_tokens + txt_weights * max_len)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--variant", default="B/16")
  p.add_argument("--txt", default="", help="text variant (default: the image variant's name)")
  p.add_argument("--res", type=int, default=224)
  p.add_argument("--batch", type=int, default=256, help="global batch")
  p.add_argument("--max-len", type=int, default=64)
  p.add_argument("--vocab", type=int, default=32_000)
  p.add_argument("--loss", default="ring", choices=("dense", "ring", "chunked"))
  p.add_argument("--dtype", default="bfloat16")
  p.add_argument("--sharding", default="replicate", choices=("replicate", "fsdp"))
  p.add_argument("--remat", action="store_true")
  p.add_argument("--steps", type=int, default=10, help="timed steps (after one warm-up step)")
  p.add_argument("--tiny", action="store_true", help="the tiny preset: mu/8, 32 px, batch 64, fp32")
  args = p.parse_args()

  if args.tiny:
    config = config_lib.load("siglip:tiny")
  else:
    config = config_lib.load(f"siglip:variant={args.variant},res={args.res},batch={args.batch},loss={args.loss},"
                             f"max_len={args.max_len}" + (f",txt={args.txt}" if args.txt else ""))
    config.model.dtype = args.dtype
    config.model.remat = args.remat
    config.sharding = args.sharding
  batch, res, max_len = config.input.batch_size, config.input.res, config.input.max_len
  patch = int(config.model.image["variant"].split("/")[1])

  t0 = time.perf_counter()
  tr = trainer.Trainer(config, vocab_size=args.vocab)
  state = tr.init_state()
  rng = np.random.default_rng(0)
  host = {"image": rng.integers(0, 256, (batch, res, res, 3), dtype=np.uint8),
          "text": rng.integers(3, args.vocab, (batch, max_len), dtype=np.int32)}
  data = {k: jax.device_put(v, tr.batch_sharding) for k, v in host.items()}
  state, m = tr.step(state, data)  # compiles
  jax.block_until_ready(m)
  setup_s = time.perf_counter() - t0

  t0 = time.perf_counter()
  for _ in range(args.steps):
    state, m = tr.step(state, data)
  jax.block_until_ready((state, m))
  step_s = (time.perf_counter() - t0) / args.steps

  device = jax.devices()[0]
  estimate = analytic_flops(tr, batch, res, max_len, patch)
  out = {
      "variant": config.model.image["variant"], "text": config.model.text["variant"], "res": res, "batch": batch,
      "loss": config.loss["name"], "dtype": config.model.dtype, "devices": tr.mesh.size,
      "device_kind": device.device_kind, "params": tr.num_params(),
      "compile_and_init_s": round(setup_s, 2), "step_s": round(step_s, 4),
      "examples_per_s": round(batch / step_s, 1),
      "xla_flops_per_step": tr.flops_per_step, "estimate_6NT_flops_per_step": estimate,
      "xla_over_estimate": round(tr.flops_per_step / estimate, 3) if tr.flops_per_step else None,
  }
  peak = metrics.peak_flops(device)
  if peak and tr.flops_per_step:
    out["mfu"] = round(tr.flops_per_step / tr.mesh.size / step_s / peak, 4)
    out["peak_flops_per_device"] = peak
  print(json.dumps(out))
  print(f"{out['variant']} + {out['text']} text, {res}px, batch {batch} on {tr.mesh.size} x {device.device_kind}: "
        f"{out['examples_per_s']:.1f} examples/s, {step_s * 1e3:.1f} ms/step, "
        f"{(tr.flops_per_step or 0) / 1e9:.2f} GFLOP/step (XLA) = {out['xla_over_estimate']} x 6NT"
        + (f", MFU {out['mfu']:.1%}" if "mfu" in out else ", MFU n/a (no known peak for this device)"))


if __name__ == "__main__":
  main()
