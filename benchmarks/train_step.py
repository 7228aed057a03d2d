"""Train-step throughput of every objective on one encoder, relative to SigLIP in the same run; the analytic model
FLOPs per step (webpairs/pretrain/flops.py) and MFU from them on a known accelerator; for SigLIP also the 6*N*T
estimate and XLA's own count (a cross-check, not reported on GPU where it misses cuBLAS/cuDNN calls).

Rows: siglip (two towers, sigmoid loss); cappa and locca (captioners: the same ViT and a
decoder); silc (sigmoid on 2 global views + self-distillation with local crops);
siglip2_before / siglip2_after (SigLIP 2's stage before the switch: sigmoid + LocCa from one
image-tower pass; after it: plus self-distillation and masked prediction on views).
Synthetic batches (random pixels and tokens, LocCa's region rows with every fourth example
without regions) on all local devices, so only model, loss, optimizer and sharding are
measured, not the input pipeline. Every row is compiled first, then timed in round-robin
rounds (the median round counts), so load on a shared machine falls on all rows alike.

  .venv/bin/python benchmarks/train_step.py --variant B/16 --res 224 --batch 256 --steps 10
  .venv/bin/python benchmarks/train_step.py --tiny   # mu/8 at 32 px, on a CPU

Speed levers (each selectable, to time against the previous settings in one run): --attention
(nnx | xla | cudnn | auto), --mu-dtype bfloat16 (Adam's first moment), --xla-gpu-flags (xla_flags.py).
--timing-lock FILE: compile while other benchmark processes do, but time only while holding FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import timing_lock  # benchmarks/timing_lock.py: a script's folder is on sys.path

from webpairs.configs import loader
from webpairs.pretrain import metrics, trainer, xla_flags
from webpairs.pretrain.objectives import locca

ROWS = ("siglip", "cappa", "locca", "silc", "siglip2_before", "siglip2_after")
_CONFIG_FILE = {"siglip": "siglip", "cappa": "cappa", "locca": "locca", "silc": "silc", "siglip2_before": "siglip2",
                "siglip2_after": "siglip2"}
_SIGMOID = ("siglip", "silc", "siglip2_before", "siglip2_after")  # rows whose config takes the sigmoid loss kind


def analytic_flops(tr: trainer.Trainer, batch: int, res: int, max_len: int, patch: int) -> float:
  """6 * weights * tokens (forward 2, backward 4 per weight and token), per tower of the SigLIP row.

  Not counted: attention scores, the loss, and the token-embedding table (a lookup, not a matmul).
  """
  params = tr.abstract_state["params"]
  count = lambda tree: sum(x.size for x in jax.tree.leaves(tree))
  txt_weights = count(params["txt"]) - count(params["txt"]["embedding"])
  img_tokens = (res // patch) ** 2
  return 6.0 * batch * (count(params["img"]) * img_tokens + txt_weights * max_len)


def row_config(row: str, args: argparse.Namespace) -> ml_collections.ConfigDict:
  """The row's own config file on the shared encoder, batch, resolution and caption length."""
  if args.tiny:
    spec = "tiny"
  else:
    spec = f"variant={args.variant},res={args.res},batch={args.batch},max_len={args.max_len}"
    if row in _SIGMOID:
      spec += f",loss={args.loss}" + (f",txt={args.txt}" if args.txt else "")
  config = loader.load_config(loader.PRETRAIN, f"{_CONFIG_FILE[row]}:{spec}")
  # The presets differ in caption length (cappa:tiny's 16): every row takes SigLIP's.
  base = loader.load_config(loader.PRETRAIN, "siglip:tiny") if args.tiny else config
  config.input.max_len = base.input.max_len
  if config.get("silc") is not None and row.startswith("siglip2"):
    config.silc.switch_step = 0 if row == "siglip2_after" else 2**30  # time the step after, or long before, it
  if not args.tiny:
    config.model.dtype = args.dtype
    config.model.remat = args.remat
    config.sharding = args.sharding
    if args.attention:
      config.model.attention = args.attention
    if args.mu_dtype:
      config.optax.mu_dtype = args.mu_dtype
  return config


def synthetic_batch(config: ml_collections.ConfigDict, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
  """Random pixels and caption tokens, and ARef/GCap rows (4 prompt tokens, then weighted target tokens)."""
  rng = np.random.default_rng(seed)
  inp = config.input
  b, length = inp.batch_size, inp.max_len
  batch = {"image": rng.integers(0, 256, (b, inp.res, inp.res, 3), dtype=np.uint8),
           "text": rng.integers(3, vocab, (b, length), dtype=np.int32)}
  if inp.get("regions", False):
    region_len = int(inp.get("region_max_len", 0) or length)
    weights = np.zeros((b, region_len), np.float32)
    weights[:, 4:] = 1.0
    weights[::4] = 0.0  # examples without regions
    for task in locca.TASKS:
      batch[f"{task}_tokens"] = rng.integers(3, vocab, (b, region_len), dtype=np.int32)
      batch[f"{task}_weights"] = weights
  return batch


class Row:
  """One objective's trainer, state and device batch; compiled (not yet run) on construction."""

  def __init__(self, name: str, config: ml_collections.ConfigDict, vocab: int):
    self.name, self.config = name, config
    t0 = time.perf_counter()
    self.trainer = trainer.Trainer(config, vocab_size=vocab)
    self.state = self.trainer.init_state()
    host = synthetic_batch(config, vocab)
    self.batch = {k: jax.device_put(v, self.trainer.batch_sharding) for k, v in host.items()}
    self.trainer.compile(self.state, self.batch)  # the first run(1) executes it (under the timing lock)
    self.setup_s = time.perf_counter() - t0
    self.times: list[float] = []

  def run(self, steps: int) -> float:
    """Mean seconds per step over `steps` steps."""
    t0 = time.perf_counter()
    for _ in range(steps):
      self.state, m = self.trainer.step(self.state, self.batch)
    jax.block_until_ready((self.state, m))
    return (time.perf_counter() - t0) / steps


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--variant", default="B/16")
  p.add_argument("--txt", default="", help="text variant (default: the image variant's name)")
  p.add_argument("--res", type=int, default=224)
  p.add_argument("--batch", type=int, default=256, help="global batch")
  p.add_argument("--max-len", type=int, default=64)
  p.add_argument("--vocab", type=int, default=32_000)
  p.add_argument("--loss", default="ring", choices=("dense", "ring", "chunked"), help="the sigmoid loss")
  p.add_argument("--dtype", default="bfloat16")
  p.add_argument("--sharding", default="replicate", choices=("replicate", "fsdp"))
  p.add_argument("--remat", action="store_true")
  p.add_argument("--steps", type=int, default=10, help="timed steps per row and round (after one compiling step)")
  p.add_argument("--rounds", type=int, default=3, help="round-robin timing rounds; the median counts")
  p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
  p.add_argument("--tiny", action="store_true", help="each config's tiny preset: mu/8, 32 px, batch 64, fp32")
  p.add_argument("--attention", default="", help="nnx | xla | cudnn | auto (default: models/common.py's)")
  p.add_argument("--mu-dtype", default="", help="Adam's first-moment dtype, e.g. bfloat16 (default: fp32)")
  p.add_argument("--xla-gpu-flags", type=int, default=None, help="1/0: XLA's documented-safe GPU flags on/off "
                 "(default: xla_flags.DEFAULT)")
  p.add_argument("--timing-lock", default="", help="hold this file locked while timing (compile unlocked)")
  p.add_argument("--label", default="", help="a name for this run in the output")
  args = p.parse_args()
  xla_flags.apply(None if args.xla_gpu_flags is None else bool(args.xla_gpu_flags))  # before JAX's backend starts
  names = [r.strip() for r in args.rows.split(",") if r.strip()]
  unknown = set(names) - set(ROWS)
  if unknown or "siglip" not in names:
    raise SystemExit(f"--rows: need siglip (the reference) and rows from {ROWS}; unknown: {sorted(unknown)}")

  rows = {name: Row(name, row_config(name, args), args.vocab) for name in names}
  print(f"[train_step] compiled {len(rows)} row(s) in {sum(r.setup_s for r in rows.values()):.0f}s", flush=True)
  with timing_lock.locked(args.timing_lock):
    for row in rows.values():
      row.run(1)  # the first execution: allocations, autotuning
    for _ in range(args.rounds):
      for row in rows.values():
        row.times.append(row.run(args.steps))

  ref = rows["siglip"]
  base_s = statistics.median(ref.times)
  device = jax.devices()[0]
  inp = ref.config.input
  out: dict[str, Any] = {
      "variant": ref.config.model.image["variant"], "text": ref.config.model.text["variant"], "res": inp.res,
      "batch": inp.batch_size, "max_len": inp.max_len, "vocab": args.vocab, "loss": ref.config.loss["name"],
      "dtype": ref.config.model.dtype, "devices": ref.trainer.mesh.size, "device_kind": device.device_kind,
      "steps": args.steps, "rounds": args.rounds, "label": args.label,
      "attention": ref.config.model.get("attention") or "default", "mu_dtype": ref.config.optax.get("mu_dtype"),
      "xla_flags": os.environ.get("XLA_FLAGS", ""), "rows": {},
  }
  peak = metrics.peak_flops(device)
  for name, row in rows.items():
    step_s = statistics.median(row.times)
    out["rows"][name] = {
        "params": row.trainer.num_params(), "compile_and_init_s": round(row.setup_s, 2), "step_s": round(step_s, 4),
        "examples_per_s": round(inp.batch_size / step_s, 1),
        "examples_per_s_vs_siglip": round(base_s / step_s, 3), "step_time_vs_siglip": round(step_s / base_s, 3),
        "xla_flops_per_step": row.trainer.flops_per_step,
        "model_flops_per_step": row.trainer.model_flops_per_step,
        "mfu": metrics.mfu(row.trainer.model_flops_per_step, step_s, row.trainer.mesh.size, peak),
    }
  patch = int(ref.config.model.image["variant"].split("/")[1])
  estimate = analytic_flops(ref.trainer, inp.batch_size, inp.res, inp.max_len, patch)
  sig = out["rows"]["siglip"]
  sig["estimate_6NT_flops_per_step"] = estimate
  sig["xla_over_estimate"] = round(ref.trainer.flops_per_step / estimate, 3) if ref.trainer.flops_per_step else None
  sig["model_over_estimate"] = round(ref.trainer.model_flops_per_step / estimate, 3)
  if peak:
    sig["mfu_6NT"] = round(estimate / ref.trainer.mesh.size / base_s / peak, 4)
    sig["peak_flops_per_device"] = peak
  print(json.dumps(out))

  print(f"{out['variant']} + {out['text']} text, {inp.res}px, batch {inp.batch_size}, {inp.max_len} tokens, vocab "
        f"{args.vocab} on {ref.trainer.mesh.size} x {device.device_kind}; median of {args.rounds} rounds x "
        f"{args.steps} steps")
  xla = f"XLA {ref.trainer.flops_per_step / 1e9:.2f} GFLOP/step" if ref.trainer.flops_per_step else "XLA n/a"
  print(f"SigLIP{' [' + args.label + ']' if args.label else ''}: model {ref.trainer.model_flops_per_step / 1e9:.2f} "
        f"GFLOP/step = {sig['model_over_estimate']} x 6NT; {xla}"
        + (f"; MFU {sig['mfu']:.1%} (by 6NT {sig['mfu_6NT']:.1%})" if sig["mfu"] is not None
           else "; MFU n/a (no known peak for this device)"))
  print(f"{'row':<16}{'ms/step':>10}{'examples/s':>12}{'x SigLIP ex/s':>15}{'x SigLIP time':>15}"
        f"{'GFLOP':>11}{'XLA GFLOP':>11}{'MFU':>7}{'params':>12}")
  for name, r in out["rows"].items():
    gflop = f"{r['xla_flops_per_step'] / 1e9:.2f}" if r["xla_flops_per_step"] else "n/a"
    mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
    print(f"{name:<16}{r['step_s'] * 1e3:>10.1f}{r['examples_per_s']:>12.1f}{r['examples_per_s_vs_siglip']:>15.3f}"
          f"{r['step_time_vs_siglip']:>15.3f}{r['model_flops_per_step'] / 1e9:>11.2f}{gflop:>11}{mfu:>7}"
          f"{r['params']:>12,}")
  if any(name.startswith("siglip2") for name in rows):
    print("(XLA's count for the siglip2 rows includes the self-distillation branch of the switch, taken or not)")


if __name__ == "__main__":
  main()
