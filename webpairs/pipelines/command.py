"""`webpairs curate ...`: the Beam curation jobs from the command line.

Flags this parser does not know are Beam pipeline options (--runner, --flink_master,
--project, --region, --temp_location, --direct_num_workers, ...) and go to Beam as given.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
  curate = subparsers.add_parser("curate", help="Beam curation jobs: annotate, ...",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  jobs = curate.add_subparsers(dest="job", required=True, metavar="JOB")

  annotate = jobs.add_parser(
      "annotate", help="one parquet row per input example: status, sizes, hashes, language, text features",
      description="Annotate raw shards (webdataset tars or img2dataset parquet). Unknown flags are Beam options.")
  annotate.add_argument("--input", required=True, help="comma-separated globs of raw shards (local, gs://, s3://)")
  annotate.add_argument("--output", required=True, help="output directory for annotations-*.parquet and summary.json")
  annotate.add_argument("--batch-size", type=int, default=256, help="examples per annotate batch (LID, hashes)")
  annotate.add_argument("--max-pixels", type=int, default=None, help="decompression-bomb limit (width*height)")
  annotate.add_argument("--max-caption-chars", type=int, default=None, help="longer captions are rejected")
  annotate.add_argument("--overwrite", action="store_true", help="redo shards whose annotation file exists")
  annotate.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  annotate.set_defaults(func=_run_annotate, accepts_pipeline_options=True)


def _run_annotate(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.curation.annotate import AnnotateConfig  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.annotate import run_annotate  # pylint: disable=import-outside-toplevel

  overrides = {}
  if args.max_pixels is not None:
    overrides["max_pixels"] = args.max_pixels
  if args.max_caption_chars is not None:
    overrides["max_caption_chars"] = args.max_caption_chars
  summary = run_annotate(args.input, args.output, pipeline_args, config=AnnotateConfig(**overrides),
                         batch_size=args.batch_size, overwrite=args.overwrite, show_progress=not args.no_progress)
  print_summary(summary, args.output)
  return 0


def print_summary(summary: dict, output: str) -> None:
  counts = summary["status_counts"]
  width = max(len(k) for k in counts) if counts else 0
  out = sys.stdout
  print(f"annotated {summary['examples']:,} examples from {summary['shards']} shards "
        f"in {summary.get('seconds', 0):.1f}s: {summary['ok']:,} ok, {summary['rejected']:,} rejected", file=out)
  for status, n in counts.items():
    print(f"  {status:<{width}}  {n:>8,}", file=out)
  print(f"annotations: {output}/annotations-*.parquet", file=out)
  print(f"summary:     {output}/summary.json", file=out)
