"""`webpairs sample`: write procedurally generated raw shards with planted defects and truth."""

from __future__ import annotations

import argparse
import os
import sys

from webpairs.demo.sample import defects
from webpairs.demo.sample import writer


def _rate(text: str) -> tuple[str, float]:
  name, sep, value = text.partition("=")
  if not sep or name not in defects.DEFAULT_RATES:
    names = ", ".join(defects.DEFAULT_RATES)
    raise argparse.ArgumentTypeError(f"expected DEFECT=RATE with DEFECT one of {names}")
  try:
    return name, float(value)
  except ValueError:
    raise argparse.ArgumentTypeError(f"rate {value!r} is not a number") from None


def register(subparsers: argparse._SubParsersAction) -> None:
  p = subparsers.add_parser(
      "sample",
      help="write img2dataset-style raw shards with planted defects and truth.parquet",
      description=__doc__,
  )
  p.add_argument("--output", required=True,
                 help="folder for NNNNN.tar, NNNNN.parquet and truth.parquet")
  p.add_argument("--examples", type=int, required=True, help="number of examples")
  p.add_argument("--seed", type=int, default=0, help="everything follows from it (default 0)")
  p.add_argument("--shard-size", type=int, default=100, help="examples per tar (default 100)")
  p.add_argument("--real-images", default=writer.AUTO,
                 help="folder with captions.json and photos to mix in; 'none' for none "
                 "(default: the shared data folder's real_image_captions when present)")
  p.add_argument("--rate", type=_rate, action="append", default=[], metavar="DEFECT=RATE",
                 help="override a defect's share of examples, e.g. --rate near_dup=0.1 "
                 "(repeatable); "
                 f"defaults: {', '.join(f'{k}={v}' for k, v in defects.DEFAULT_RATES.items())}")
  p.add_argument("--mismatch-rate", type=float, default=0.0, metavar="R",
                 help="give round(R x examples) clean or duplicate examples the caption (and "
                 "language) of another image, seeded; truth.parquet's `mismatched` and "
                 "`caption_from` say which (default 0: none)")
  p.add_argument("--no-truncated-tar", dest="truncated_tar", action="store_false",
                 help="do not cut the last shard inside its last example")
  p.add_argument("--overwrite", action="store_true", help="replace a sample already in --output")
  p.add_argument("--eval-set", metavar="DIR", default=None,
                 help="also write the small labelled eval set (classes, countries, income groups, "
                 "multilingual captions) to DIR, for `webpairs eval --data-root` (DIR's parent)")
  p.add_argument("--eval-examples", type=int, default=240, help="images in the eval set (default 240)")
  p.set_defaults(func=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
  del extra  # sample takes no pipeline options
  real_dir = None if args.real_images.lower() == "none" else args.real_images
  try:
    summary = writer.write_sample(
        args.output,
        args.examples,
        args.seed,
        shard_size=args.shard_size,
        rates=dict(args.rate),
        real_images_dir=real_dir,
        truncated_tar=args.truncated_tar,
        overwrite=args.overwrite,
        mismatch_rate=args.mismatch_rate,
    )
  except FileExistsError as e:
    print(f"webpairs sample: {e}; use --overwrite to replace it", file=sys.stderr)
    return 2
  except ValueError as e:
    print(f"webpairs sample: {e}", file=sys.stderr)
    return 2
  print(f"wrote {summary.num_examples} examples in {len(summary.shards)} shards "
        f"to {summary.output_dir}")
  print(f"  shards: {summary.shards[0]} .. {summary.shards[-1]} (+ .parquet sidecars)")
  print(f"  truth:  {summary.truth_path}")
  print(f"  real photos: {summary.num_real}")
  if summary.truncated_shard:
    print(f"  truncated shard: {summary.truncated_shard} (cut inside its last example)")
  print("  defects: " + ", ".join(f"{k}={v}" for k, v in summary.defect_counts.items()))
  if summary.num_mismatched:
    print(f"  mismatched pairs: {summary.num_mismatched} (caption of another image)")
  print("  languages: " + ", ".join(f"{k}={v}" for k, v in summary.lang_counts.items()))
  if args.eval_set:
    from webpairs.demo import synthetic  # pylint: disable=import-outside-toplevel
    synthetic.write_eval_set(args.eval_set, args.eval_examples, seed=args.seed)
    print(f"  eval set: {args.eval_set} ({args.eval_examples} labelled images; "
          f"`webpairs eval --evals synthetic --data-root {os.path.dirname(os.path.abspath(args.eval_set))}`)")
  return 0
