"""`webpairs curate score` and `curate semdedup`: the model-based jobs' command lines (pipelines/score/score.py,
pipelines/score/semantic_dedup.py)."""

from __future__ import annotations

import argparse
import sys

from webpairs.pipelines.runtime import input_args


def register(jobs) -> None:
  parser = jobs.add_parser(
      "score", help="pair scores (and embeddings) of raw examples from a trained two-tower checkpoint",
      description="Score raw shards with a `webpairs pretrain` two-tower checkpoint through Beam RunInference and "
                  "write one scores-*.parquet per shard (offset, key, score = t*cos+b, score_sigmoid, error; "
                  "image/text embeddings with --embeddings) and summary.json. Feed the directory to "
                  "`curate annotate --scores`. Unknown flags are Beam options.")
  input_args.add_input_option(parser)
  parser.add_argument("--output", required=True, help="output directory for scores-*.parquet and summary.json")
  parser.add_argument("--checkpoint", required=True, metavar="WORKDIR", help="a `webpairs pretrain` workdir")
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
  parser.add_argument("--tokenizer", default=None, help="the run's SentencePiece model, if it moved")
  parser.add_argument("--batch-size", type=int, default=64, help="examples per model batch (default 64)")
  parser.add_argument("--embeddings", action="store_true", help="also write float16 image and text embeddings")
  parser.add_argument("--overwrite", action="store_true", help="redo shards whose score file exists")
  parser.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  parser.set_defaults(func=_run, accepts_pipeline_options=True)
  semdedup = jobs.add_parser(
      "semdedup", help="SemDeDup: k-means of image embeddings, near-identical meaning within a cluster",
      description="Cluster the image embeddings of `curate score --embeddings` output with k-means in Beam and "
                  "mark, within each cluster, rows whose cosine with a higher-scoring row is above the threshold "
                  "(semantic_dup). Writes semantic-<score file> per score file and summary.json.")
  semdedup.add_argument("--scores", required=True, metavar="DIR", help="output of `curate score --embeddings`")
  semdedup.add_argument("--output", required=True, help="output directory for semantic-*.parquet and summary.json")
  semdedup.add_argument("--clusters", type=int, default=100, help="k-means clusters (default 100)")
  semdedup.add_argument("--threshold", type=float, default=0.95, help="cosine above which rows are duplicates")
  semdedup.add_argument("--iterations", type=int, default=10, help="k-means passes (default 10)")
  semdedup.set_defaults(func=_run_semdedup, accepts_pipeline_options=True)


def add_scores_option(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--scores", default=None, metavar="DIR",
                      help="output of `curate score` on the same inputs: each row's model score goes into its "
                           "extra JSON as model_score (filters.score_column=extra.model_score)")


def _run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines.score.score import TwoTowerScorer, run_score  # pylint: disable=import-outside-toplevel

  handler = TwoTowerScorer(args.checkpoint, args.step, batch_size=args.batch_size, tokenizer=args.tokenizer)
  inputs = input_args.shard_patterns(args.input)
  summary = run_score(inputs, args.output, handler, pipeline_args, embeddings=args.embeddings,
                      overwrite=args.overwrite, show_progress=not args.no_progress)
  out = sys.stdout
  print(f"scored {summary['scored']:,} of {summary['examples']:,} examples from {summary['shards']} shards in "
        f"{summary.get('seconds', 0):.1f}s ({summary['rejected']:,} rejected by annotate's checks, "
        f"{summary['model_failed']:,} model failures)", file=out)
  print(f"scores:      {args.output}/scores-*.parquet", file=out)
  print(f"summary:     {args.output}/summary.json", file=out)
  return 0


def _run_semdedup(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines.score.semantic_dedup import run_semantic_dedup  # pylint: disable=import-outside-toplevel

  summary = run_semantic_dedup(args.scores, args.output, pipeline_args, clusters=args.clusters,
                               threshold=args.threshold, iterations=args.iterations)
  print(f"semdedup: {summary['semantic_dup']:,} of {summary['examples']:,} embedded examples are semantic "
        f"duplicates ({summary['clusters']} clusters, cosine > {summary['threshold']}) in "
        f"{summary.get('seconds', 0):.1f}s", file=sys.stdout)
  print(f"verdicts:    {args.output}/semantic-*.parquet", file=sys.stdout)
  return 0
