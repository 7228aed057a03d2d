"""Does the tiny SigLIP learn? Train it on `webpairs sample` scenes, then image<->text R@1 on held-out pairs against chance.

Without --train-shards it writes two clean samples (different seeds: training and
held-out scenes never overlap) and trains a tokenizer on the training one; the raw
sample tars are already in the curated-shard layout. Pass curated shards from
`webpairs curate run` to measure on the real pipeline's output. Prints one JSON line.

  .venv/bin/python benchmarks/learn_tiny.py [--examples 4000] [--held-out 500] [--steps 600]
  .venv/bin/python benchmarks/learn_tiny.py --train-shards cur/shards --eval-shards held/shards --tokenizer tok/
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from webpairs.configs import loader
from webpairs.eval import hooks as eval_hooks
from webpairs.demo.sample import defects, writer
from webpairs.pretrain import trainer
from webpairs.tokenizers import train_tokenizer

CLEAN = {d: 0.0 for d in defects.DEFAULT_RATES}


def run(workdir: str, *, examples: int, held_out: int, steps: int, batch: int, train_shards: str = "",
        eval_shards: str = "", tokenizer: str = "", overrides: tuple[str, ...] = ()) -> dict[str, float]:
  start = time.perf_counter()
  if not train_shards:
    train_shards, eval_shards = os.path.join(workdir, "train"), os.path.join(workdir, "held_out")
    writer.write_sample(train_shards, examples, seed=1, rates=CLEAN, real_images_dir=None, truncated_tar=False,
                        overwrite=True)
    writer.write_sample(eval_shards, held_out, seed=2, rates=CLEAN, real_images_dir=None, truncated_tar=False,
                        overwrite=True)
  if not tokenizer:
    tokenizer = os.path.join(workdir, "tokenizer")
    train_tokenizer(train_shards, tokenizer, 1000, num_threads=2)
  data_s = time.perf_counter() - start

  config = loader.load_config(loader.PRETRAIN, f"siglip:tiny,steps={steps},batch={batch}")
  loader.apply_overrides(config, [f"input.shards={train_shards}", f"input.tokenizer={tokenizer}",
                                  f"evals.retrieval.shards={eval_shards}", f"evals.retrieval.max_examples={held_out}",
                                  "log_every=50", "ckpt_every=1000", *overrides])
  start = time.perf_counter()
  run_dir = os.path.join(workdir, "run")
  final = trainer.train(config, run_dir, hooks=eval_hooks.from_config(config, workdir=run_dir))
  train_s = time.perf_counter() - start
  chance = final["retrieval/chance_r1"]
  return {
      "steps": steps, "batch": batch, "train_examples_seen": steps * batch,
      "held_out_pairs": int(final["retrieval/examples"]),
      "img2txt_r1": final["retrieval/img2txt_r1"], "txt2img_r1": final["retrieval/txt2img_r1"],
      "img2txt_r5": final["retrieval/img2txt_r5"], "chance_r1": chance,
      "img2txt_r1_over_chance": final["retrieval/img2txt_r1"] / chance,
      "txt2img_r1_over_chance": final["retrieval/txt2img_r1"] / chance,
      "final_loss": final["loss"], "data_prep_s": round(data_s, 1), "train_and_eval_s": round(train_s, 1),
  }


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--examples", type=int, default=4000, help="training examples to generate")
  p.add_argument("--held-out", type=int, default=500, help="held-out pairs to generate and retrieve among")
  p.add_argument("--steps", type=int, default=600)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--train-shards", default="")
  p.add_argument("--eval-shards", default="")
  p.add_argument("--tokenizer", default="")
  p.add_argument("--workdir", default="", help="keep data and the run here (default: a temporary folder)")
  p.add_argument("--override", action="append", default=[], help="config KEY=VALUE (repeatable)")
  args = p.parse_args()
  if bool(args.train_shards) != bool(args.eval_shards):
    p.error("give both --train-shards and --eval-shards, or neither")
  kw = dict(examples=args.examples, held_out=args.held_out, steps=args.steps, batch=args.batch,
            train_shards=args.train_shards, eval_shards=args.eval_shards, tokenizer=args.tokenizer,
            overrides=tuple(args.override))
  if args.workdir:
    os.makedirs(args.workdir, exist_ok=True)
    out = run(args.workdir, **kw)
  else:
    with tempfile.TemporaryDirectory() as tmp:
      out = run(tmp, **kw)
  print(json.dumps(out))


if __name__ == "__main__":
  main()
