"""`webpairs demo`: the main job end to end on a built-in sample, printing where each output is."""

from __future__ import annotations

import argparse
import os
import time


def register(subparsers) -> None:
  demo = subparsers.add_parser("demo", help="run the main job end to end on a generated sample",
                               description=__doc__)
  demo.add_argument("--output", default="demo_out", help="output directory (default: demo_out)")
  demo.add_argument("--examples", type=int, default=600, help="examples in the generated sample")
  demo.add_argument("--seed", type=int, default=0, help="sample seed")
  demo.add_argument("--config", default="quality", help="curation config for `curate run` (default: quality)")
  demo.add_argument("--shard-size", type=int, default=100, help="examples per curated shard")
  demo.set_defaults(func=run, accepts_pipeline_options=True)


def _stage(title: str) -> float:
  print(f"\n== {title}", flush=True)
  return time.time()


def run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines import command  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.curate import run_curation  # pylint: disable=import-outside-toplevel
  from webpairs.sample import writer  # pylint: disable=import-outside-toplevel

  out = os.path.abspath(args.output)
  raw = os.path.join(out, "raw")
  start = _stage(f"1. sample: {args.examples} raw examples (img2dataset layout, planted defects) -> {raw}")
  summary = writer.write_sample(raw, args.examples, args.seed, overwrite=True)
  print(f"wrote {len(summary.shards)} shards and truth.parquet in {time.time() - start:.1f}s")

  _stage(f"2. curate run ({args.config}): annotate -> select -> materialize -> report, under {out}")
  result = run_curation(os.path.join(raw, "*.tar"), args.config, out, pipeline_args, shard_size=args.shard_size)
  outputs = result["outputs"]
  command.print_summary(result["annotate"], outputs["annotations"])
  command.print_select_summary(result["select"], outputs["selection"])
  command.print_manifest(result["manifest"], outputs["shards"])

  print(f"\ndemo outputs under {out}:")
  print(f"  raw shards + planted truth: {raw}/*.tar, {raw}/truth.parquet")
  print(f"  annotations:                {outputs['annotations']}/annotations-*.parquet, summary.json")
  print(f"  selection:                  {outputs['selection']}/selection-*.parquet, summary.json")
  print(f"  curated shards:             {outputs['shards']}/shard-*.tar (+ .parquet sidecars), manifest.json")
  print(f"  curation report:            {result['report']} (open it in a browser)")
  return 0
