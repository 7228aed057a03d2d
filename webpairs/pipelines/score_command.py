"""`webpairs curate score`: the score job's command line (pipelines/score.py)."""

from __future__ import annotations

import argparse
import sys


def register(jobs) -> None:
  parser = jobs.add_parser(
      "score", help="pair scores (and embeddings) of raw examples from a trained two-tower checkpoint",
      description="Score raw shards with a `webpairs pretrain` two-tower checkpoint through Beam RunInference and "
                  "write one scores-*.parquet per shard (offset, key, score = t*cos+b, score_sigmoid, error; "
                  "image/text embeddings with --embeddings) and summary.json. Feed the directory to "
                  "`curate annotate --scores`. Unknown flags are Beam options.")
  parser.add_argument("--input", required=True, help="comma-separated globs of raw shards (local, gs://, s3://)")
  parser.add_argument("--output", required=True, help="output directory for scores-*.parquet and summary.json")
  parser.add_argument("--checkpoint", required=True, metavar="WORKDIR", help="a `webpairs pretrain` workdir")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
  parser.add_argument("--tokenizer", default=None, help="the run's SentencePiece model, if it moved")
  parser.add_argument("--batch-size", type=int, default=64, help="examples per model batch (default 64)")
  parser.add_argument("--embeddings", action="store_true", help="also write float16 image and text embeddings")
  parser.add_argument("--overwrite", action="store_true", help="redo shards whose score file exists")
  parser.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  parser.set_defaults(func=_run, accepts_pipeline_options=True)


def add_scores_option(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--scores", default=None, metavar="DIR",
                      help="output of `curate score` on the same inputs: each row's model score goes into its "
                           "extra JSON as model_score (filters.score_column=extra.model_score)")


def _run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines.score import TwoTowerScorer, run_score  # pylint: disable=import-outside-toplevel

  handler = TwoTowerScorer(args.checkpoint, args.step, batch_size=args.batch_size, tokenizer=args.tokenizer)
  summary = run_score(args.input, args.output, handler, pipeline_args, embeddings=args.embeddings,
                      overwrite=args.overwrite, show_progress=not args.no_progress)
  out = sys.stdout
  print(f"scored {summary['scored']:,} of {summary['examples']:,} examples from {summary['shards']} shards in "
        f"{summary.get('seconds', 0):.1f}s ({summary['rejected']:,} rejected by annotate's checks, "
        f"{summary['model_failed']:,} model failures)", file=out)
  print(f"scores:      {args.output}/scores-*.parquet", file=out)
  print(f"summary:     {args.output}/summary.json", file=out)
  return 0
