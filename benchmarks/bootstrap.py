"""The bootstrap loop on the sample: train on raw, score, keep the top 70% by score, retrain; against a random 70%.

1. A clean `webpairs sample --mismatch-rate R` (training) plus a held-out one (another seed):
   the sample gives a known share of the training pairs the caption of another image and
   says which in truth.parquet (planted mismatches, the truth).
2. The tiny SigLIP trains on all of it (`raw`), and `curate score` scores every pair.
3. The 30% with the lowest score are dropped; the same number dropped at random (seeded).
   Precision / recall of each drop against the planted mismatches.
4. The tiny SigLIP trains again from scratch, same steps, on each 70%; held-out
   image<->text R@1 of both (and of the raw model) in the same run. Prints a table.

  PYTHONPATH=. .venv/bin/python benchmarks/bootstrap.py [--examples 3000] [--steps 400] [--mismatch 0.2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import tarfile
import tempfile

import numpy as np
import pyarrow.parquet as pq

from benchmarks.learn_tiny import run as train_and_eval
from webpairs.formats.raw import split_key
from webpairs.pipelines.raw import readers
from webpairs.pipelines.score import score, score_files
from webpairs.demo.sample import defects, writer
from webpairs.tokenizers import train_tokenizer

CLEAN = {d: 0.0 for d in defects.DEFAULT_RATES}


def _members(path: pathlib.Path) -> list[tuple[str, bytes]]:
  with tarfile.open(path) as tar:
    return [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]


def _write(path: pathlib.Path, members: list[tuple[str, bytes]]) -> None:
  with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in members:
      info = tarfile.TarInfo(name)
      info.size, info.mtime = len(data), 0
      tar.addfile(info, io.BytesIO(data))


def subset(src: pathlib.Path, dst: pathlib.Path, keep: set[str]) -> None:
  dst.mkdir(parents=True)
  for shard in sorted(src.glob("*.tar")):
    _write(dst / shard.name, [(n, d) for n, d in _members(shard) if split_key(n)[0] in keep])


def precision_recall(dropped: set[str], truth: set[str]) -> tuple[float, float]:
  hit = len(dropped & truth)
  return hit / max(1, len(dropped)), hit / max(1, len(truth))


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--examples", type=int, default=3000)
  p.add_argument("--held-out", type=int, default=500)
  p.add_argument("--steps", type=int, default=400)
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--mismatch", type=float, default=0.2, help="share of training pairs given another's caption")
  p.add_argument("--drop", type=float, default=0.3, help="share dropped by score (and at random)")
  p.add_argument("--workdir", default="")
  args = p.parse_args()
  root = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="bootstrap_"))
  raw, held = root / "raw", root / "held_out"
  writer.write_sample(raw, args.examples, seed=1, rates=CLEAN, real_images_dir=None, truncated_tar=False,
                      overwrite=True, mismatch_rate=args.mismatch)
  writer.write_sample(held, args.held_out, seed=2, rates=CLEAN, real_images_dir=None, truncated_tar=False,
                      overwrite=True)
  truth = {r["key"] for r in pq.read_table(raw / writer.TRUTH_FILE, columns=["key", "mismatched"]).to_pylist()
           if r["mismatched"]}
  tok = str(root / "tokenizer")
  train_tokenizer(str(raw), tok, 1000, num_threads=2)
  kw = dict(examples=0, held_out=args.held_out, steps=args.steps, batch=args.batch, eval_shards=str(held),
            tokenizer=tok, overrides=(f"ckpt_every={args.steps}",))

  results = {"raw": train_and_eval(str(root / "w_raw"), train_shards=str(raw), **kw)}
  handler = score.TwoTowerScorer(str(root / "w_raw" / "run"), batch_size=64)
  score.run_score(str(raw / "*.tar"), str(root / "scores"), handler, ["--direct_num_workers=1"],
                  show_progress=False)
  scores = {}
  for shard in readers.match_shards([str(raw / "*.tar")]):
    for r in pq.read_table(score_files.scores_path(str(root / "scores"), shard)).to_pylist():
      if r["score"] is not None:
        scores[r["key"]] = r["score"]
  keys = sorted(scores)
  n_drop = int(args.drop * len(keys))
  by_score = set(sorted(keys, key=lambda k: (scores[k], k))[:n_drop])
  at_random = set(np.asarray(keys)[np.random.default_rng(0).choice(len(keys), n_drop, replace=False)].tolist())
  pr = {"score": precision_recall(by_score, truth), "random": precision_recall(at_random, truth)}
  for name, dropped in (("score", by_score), ("random", at_random)):
    subset(raw, root / f"keep_{name}", set(keys) - dropped)
    results[name] = train_and_eval(str(root / f"w_{name}"), train_shards=str(root / f"keep_{name}"), **kw)

  print(f"{len(keys)} training pairs, {len(truth)} planted mismatches ({len(truth) / len(keys):.1%}); "
        f"{n_drop} dropped ({args.drop:.0%}); tiny SigLIP, {args.steps} steps x {args.batch} each; "
        f"held-out {results['raw']['held_out_pairs']} pairs (chance R@1 {results['raw']['chance_r1']:.4f})")
  print("| training set | mismatch precision | mismatch recall | img->txt R@1 | txt->img R@1 |")
  print("|---|---:|---:|---:|---:|")
  print(f"| raw (all) | - | - | {results['raw']['img2txt_r1']:.3f} | {results['raw']['txt2img_r1']:.3f} |")
  for name, label in (("score", "top 70% by score"), ("random", "random 70%")):
    prec, rec = pr[name]
    print(f"| {label} | {prec:.3f} | {rec:.3f} | {results[name]['img2txt_r1']:.3f} | "
          f"{results[name]['txt2img_r1']:.3f} |")
  print(json.dumps({"workdir": os.fspath(root), "precision_recall": pr,
                    "r1": {k: [v["img2txt_r1"], v["txt2img_r1"]] for k, v in results.items()}}))


if __name__ == "__main__":
  main()
