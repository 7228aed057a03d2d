"""`webpairs tokenizer train`: train a SentencePiece model from curated shards."""

from __future__ import annotations

import argparse
import sys

from webpairs.tokenizers import train


def _log(message: str) -> None:
  print(f"[tokenizer] {message}", file=sys.stderr, flush=True)


def _train(args: argparse.Namespace, extra: list[str]) -> int:
  del extra  # no pipeline options: plain Python
  try:
    info = train.train_tokenizer(
        args.shards,
        args.output,
        args.vocab_size,
        temperature=args.temperature,
        loc_tokens=args.loc_tokens,
        sample=args.sample,
        seed=args.seed,
        num_threads=args.threads,
        character_coverage=args.character_coverage,
        log=_log,
    )
  # Bad paths and sizes are the user's to fix: a message, not a traceback. SentencePiece
  # reports a vocabulary too large for the text as RuntimeError.
  except (FileNotFoundError, ValueError, RuntimeError) as e:
    print(f"webpairs tokenizer train: error: {e}", file=sys.stderr)
    return 2
  print(f"{args.output}/{train.INFO_FILE} vocab={info['vocab_size']} sha256={info['sha256']}")
  return 0


def register(subparsers: argparse._SubParsersAction) -> None:
  parser = subparsers.add_parser("tokenizer", help="train SentencePiece tokenizers from curated shards",
                                 description=__doc__)
  sub = parser.add_subparsers(dest="tokenizer_command", required=True, metavar="SUBCOMMAND")
  p = sub.add_parser("train", help="train a multilingual unigram model (byte fallback, T5 ids)",
                     description="Writes OUTPUT/spm.model and OUTPUT/tokenizer.json. Same input, seed "
                     "and --threads give a byte-identical model.")
  p.add_argument("--shards", required=True,
                 help="glob of curated shards (.tar and/or .parquet sidecars) or their folder")
  p.add_argument("--vocab-size", type=int, required=True, help="pieces, including 3 special, 256 byte, loc")
  p.add_argument("--output", required=True, help="folder for spm.model and tokenizer.json")
  p.add_argument("--temperature", type=float, default=train.DEFAULT_TEMPERATURE,
                 help="language sampling p_l ~ n_l^T: 1 keeps the data mix, lower favours rare languages")
  p.add_argument("--loc-tokens", type=int, default=0, help="add <loc0000>..<locK-1> pieces for LocCa boxes")
  p.add_argument("--sample", type=int, default=None,
                 help=f"captions to train on (default: all, at most {train.DEFAULT_SAMPLE:,})")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--threads", type=int, default=train.DEFAULT_THREADS,
                 help="SentencePiece threads; part of the result, so fixed rather than the core count")
  p.add_argument("--character-coverage", type=float, default=0.9995,
                 help="share of characters given their own pieces; the rest use byte fallback")
  p.set_defaults(func=_train)
