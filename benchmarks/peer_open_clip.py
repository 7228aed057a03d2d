"""The peer: open_clip's ViT-B-16-SigLIP train step (random weights, SigLipLoss, bf16 autocast, fused AdamW), eager
and under torch.compile, in pairs/s, to set against benchmarks/train_step.py's SigLIP row in the same run.

  python3 benchmarks/peer_open_clip.py --batch 512 --steps 10 --rounds 3
torch and open_clip_torch are not webpairs dependencies: without them (or without a CUDA
device) this prints why and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import timing_lock  # benchmarks/timing_lock.py: a script's folder is on sys.path


def _make_step(torch, open_clip, model, image, text, *, compiled: bool):
  """One train step: bf16 autocast forward (compiled or eager), SigLipLoss, backward, fused AdamW."""
  loss_fn = open_clip.loss.SigLipLoss(rank=0, world_size=1)
  opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, fused=True)
  forward = torch.compile(model) if compiled else model

  def step():
    with torch.autocast("cuda", dtype=torch.bfloat16):
      out = forward(image, text)
      loss = loss_fn(out["image_features"], out["text_features"], out["logit_scale"], out["logit_bias"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss
  return step


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", default="ViT-B-16-SigLIP")
  p.add_argument("--batch", type=int, default=512)
  p.add_argument("--steps", type=int, default=10, help="timed steps per round")
  p.add_argument("--rounds", type=int, default=3, help="the median round counts")
  p.add_argument("--warmup", type=int, default=3, help="untimed steps first (torch.compile compiles here)")
  p.add_argument("--modes", default="eager,compile")
  p.add_argument("--timing-lock", default="")
  args = p.parse_args()
  try:
    import open_clip  # pylint: disable=import-outside-toplevel
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    print(f"peer_open_clip: skipped: {e} (torch and open_clip_torch are not webpairs dependencies)")
    return 0
  if not torch.cuda.is_available():
    print("peer_open_clip: skipped: no CUDA device (the peer is measured on a GPU only)")
    return 0
  torch.backends.cuda.matmul.allow_tf32 = True
  torch.backends.cudnn.allow_tf32 = True
  dev = torch.device("cuda")
  steps, results = {}, {}
  for mode in [m for m in args.modes.split(",") if m]:  # build and warm every mode first: compiling is untimed
    torch.manual_seed(0)
    model = open_clip.create_model(args.model, pretrained=None, output_dict=True).to(dev).train()
    size = model.visual.image_size if hasattr(model.visual, "image_size") else (224, 224)
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    image = torch.randn(args.batch, 3, *size, device=dev)
    text = torch.randint(1, getattr(model, "vocab_size", 32_000), (args.batch, getattr(model, "context_length", 64)),
                         device=dev)
    steps[mode] = _make_step(torch, open_clip, model, image, text, compiled=mode == "compile")
    t0 = time.perf_counter()
    for _ in range(args.warmup):
      steps[mode]()
    torch.cuda.synchronize()
    results[mode] = {"warmup_s": round(time.perf_counter() - t0, 1)}
    torch.cuda.empty_cache()  # while waiting for the lock, hold no more device memory than the state
  if "compile" in steps:
    from torch._dynamo.utils import counters  # pylint: disable=import-outside-toplevel
    results["compile"]["dynamo"] = {"graph_breaks": sum(counters["graph_break"].values()),
                                    "unique_graphs": counters["stats"].get("unique_graphs", 0)}
  print("[peer] warm", flush=True)
  with timing_lock.locked(args.timing_lock):
    for mode, step in steps.items():
      step()  # re-allocates what empty_cache freed, untimed
      times = []
      for _ in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.steps):
          loss = step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / args.steps)
      step_s = statistics.median(times)
      results[mode].update(step_s=round(step_s, 4), pairs_per_s=round(args.batch / step_s, 1), loss=float(loss))
  print(json.dumps({"model": args.model, "batch": args.batch, "device": torch.cuda.get_device_name(),
                    "torch": torch.__version__, "open_clip": open_clip.__version__, "modes": results}))
  for mode, r in results.items():
    print(f"open_clip {args.model} {mode:<8} batch {args.batch}: {r['step_s'] * 1e3:.1f} ms/step, "
          f"{r['pairs_per_s']:.0f} pairs/s (warm-up {r['warmup_s']} s)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
