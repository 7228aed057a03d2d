"""Captions/s per core of `Tokenizer.tokenize` (fixed length, sticky EOS) against calling sentencepiece directly.

Usage: python benchmarks/tokenize_throughput.py [--model spm.model] [--max-len 64] [--batch 1024]
Without --model it trains a small tokenizer on the real multilingual captions first. Both
sides run single-threaded and are timed in process CPU seconds, so the figures are per core
even on a busy machine; the ratio is measured in this one run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from webpairs.tokenizers import Tokenizer  # noqa: E402
from webpairs.tokenizers.train import train_spm  # noqa: E402

DATA = pathlib.Path(os.environ.get("WEBPAIRS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def load_captions() -> list[str]:
  files = sorted(glob.glob(str(DATA / "real_captions_multilingual" / "*.jsonl")))
  if not files:
    sys.exit(f"no captions under {DATA}/real_captions_multilingual (set WEBPAIRS_SHARED_DATA)")
  return [s for f in files for line in open(f, encoding="utf-8") for s in json.loads(line)["sentences"]]


def cpu_rate(fn, batches: list[list[str]], repeats: int) -> float:
  """Best captions per CPU second over `repeats` passes."""
  n = sum(map(len, batches))
  best = float("inf")
  for _ in range(repeats):
    start = time.process_time()
    for batch in batches:
      fn(batch)
    best = min(best, time.process_time() - start)
  return n / best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--model", help="a SentencePiece .model (default: train one on the real captions)")
  parser.add_argument("--max-len", type=int, default=64)
  parser.add_argument("--batch", type=int, default=1024)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  captions = load_captions()
  if args.model:
    tok = Tokenizer.load(args.model)
  else:
    tok = Tokenizer(train_spm(captions, 4000, num_threads=1), name="trained on the benchmark captions")
  sp = tok.sp
  batches = [captions[i : i + args.batch] for i in range(0, len(captions), args.batch)]

  def direct(batch):  # what the pipeline would otherwise call: ragged lists, no padding
    return sp.encode(batch, out_type=int, num_threads=1)

  def direct_loop(batch):  # the naive way: one call per caption, pad in Python
    out = np.full((len(batch), args.max_len), 1, np.int32)
    for i, text in enumerate(batch):
      ids = sp.encode(text.lower())[: args.max_len - 1] + [tok.eos_id]
      out[i, : len(ids)] = ids
    return out

  def ours(batch):
    return tok.tokenize(batch, args.max_len, eos="sticky", pad_value=1, num_threads=1)

  def ours_lower(batch):
    return tok.tokenize(batch, args.max_len, eos="sticky", pad_value=1, lower=True, num_threads=1)

  assert np.array_equal(ours_lower(captions[:512]), direct_loop(captions[:512]))
  cpu_rate(direct, batches[:2], 1)  # warm up
  rates = {name: cpu_rate(fn, batches, args.repeats)
           for name, fn in [("sentencepiece encode(batch)", direct), ("webpairs tokenize", ours),
                            ("webpairs tokenize lower=True", ours_lower),
                            ("sentencepiece per caption + pad", direct_loop)]}
  base = rates["sentencepiece encode(batch)"]
  print(f"{len(captions):,} captions (8 languages), model {tok.name or args.model}, vocab {tok.vocab_size}, "
        f"max_len {args.max_len}, batch {args.batch}, 1 thread, best of {args.repeats}")
  for name, rate in rates.items():
    print(f"  {name:34s} {rate:10,.0f} captions/s per core   {rate / base:5.2f}x of encode(batch)")


if __name__ == "__main__":
  main()
