"""`webpairs curate ...`: the Beam curation jobs from the command line.

Flags this parser does not know are Beam pipeline options (--runner, --flink_master,
--project, --region, --temp_location, --direct_num_workers, ...) and go to Beam as given.
"""

from __future__ import annotations

import argparse
import sys

from webpairs.pipelines.runtime import input_args
from webpairs.pipelines.score import score_command


def register(subparsers) -> None:
  curate = subparsers.add_parser("curate", help="Beam curation jobs: annotate, detect, score, semdedup, select, "
                                                 "index-eval, materialize, run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  jobs = curate.add_subparsers(dest="job", required=True, metavar="JOB")

  annotate = jobs.add_parser(
      "annotate", help="one parquet row per input example: status, sizes, hashes, language, text features",
      description="Annotate raw shards (webdataset tars or img2dataset parquet). Unknown flags are Beam options.")
  input_args.add_input_option(annotate)
  annotate.add_argument("--output", required=True, help="output directory for annotations-*.parquet and summary.json")
  annotate.add_argument("--batch-size", type=int, default=256, help="examples per annotate batch (LID, hashes)")
  annotate.add_argument("--max-pixels", type=int, default=None, help="decompression-bomb limit (width*height)")
  annotate.add_argument("--max-caption-chars", type=int, default=None, help="longer captions are rejected")
  annotate.add_argument("--overwrite", action="store_true", help="redo shards whose annotation file exists")
  annotate.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  _add_regions_option(annotate)
  score_command.add_scores_option(annotate)
  annotate.set_defaults(func=_run_annotate, accepts_pipeline_options=True)
  _register_detect(jobs)
  score_command.register(jobs)
  _register_select(jobs)
  _register_index_eval(jobs)
  _register_materialize(jobs)
  _register_run(jobs)


def _run_annotate(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.curation.annotate import AnnotateConfig  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.annotate.annotate import run_annotate  # pylint: disable=import-outside-toplevel

  overrides = {}
  if args.max_pixels is not None:
    overrides["max_pixels"] = args.max_pixels
  if args.max_caption_chars is not None:
    overrides["max_caption_chars"] = args.max_caption_chars
  inputs = input_args.shard_patterns(args.input)
  summary = run_annotate(inputs, args.output, pipeline_args, config=AnnotateConfig(**overrides),
                         batch_size=args.batch_size, overwrite=args.overwrite, show_progress=not args.no_progress,
                         regions_dir=args.regions, scores_dir=args.scores)
  print_summary(summary, args.output)
  return 0


def _add_regions_option(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--regions", default=None, metavar="DIR",
                      help="output of `curate detect` on the same inputs: its regions replace the raw .json "
                           "regions of every example it covers")


def _register_detect(jobs) -> None:
  parser = jobs.add_parser(
      "detect", help="region annotations from any detector exposed as a Beam RunInference model handler",
      description="Run a detector over raw shards with Beam RunInference and write one regions-*.parquet per "
                  "shard (offset, key, regions as a JSON list of {text, box: [ymin, xmin, ymax, xmax]}) and "
                  "summary.json. Feed the directory to `curate annotate --regions`. Unknown flags are Beam options.")
  input_args.add_input_option(parser)
  parser.add_argument("--output", required=True, help="output directory for regions-*.parquet and summary.json")
  parser.add_argument("--detector", required=True, metavar="MODULE:FACTORY",
                      help="a function returning a RunInference ModelHandler whose inference per image is a list "
                           "of regions, e.g. webpairs.pipelines.detect.detectors:colour_blobs")
  parser.add_argument("--max-pixels", type=int, default=None, help="decompression-bomb limit (width*height)")
  parser.add_argument("--overwrite", action="store_true", help="redo shards whose region file exists")
  parser.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  parser.set_defaults(func=_run_detect, accepts_pipeline_options=True)


def _run_detect(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines.detect.detect import load_detector, run_detect  # pylint: disable=import-outside-toplevel

  kwargs = {} if args.max_pixels is None else {"max_pixels": args.max_pixels}
  summary = run_detect(input_args.shard_patterns(args.input), args.output, load_detector(args.detector), pipeline_args,
                       overwrite=args.overwrite, show_progress=not args.no_progress, **kwargs)
  out = sys.stdout
  print(f"detected {summary['regions']:,} regions in {summary['detected']:,} of {summary['examples']:,} examples "
        f"from {summary['shards']} shards in {summary.get('seconds', 0):.1f}s "
        f"({summary['undecodable']:,} images not decodable, {summary['regions_dropped']:,} regions malformed)",
        file=out)
  print(f"regions:     {args.output}/regions-*.parquet", file=out)
  print(f"summary:     {args.output}/summary.json", file=out)
  return 0


def print_summary(summary: dict, output: str) -> None:
  counts = summary["status_counts"]
  width = max(len(k) for k in counts) if counts else 0
  out = sys.stdout
  print(f"annotated {summary['examples']:,} examples from {summary['shards']} shards "
        f"in {summary.get('seconds', 0):.1f}s: {summary['ok']:,} ok, {summary['rejected']:,} rejected", file=out)
  for status, n in counts.items():
    print(f"  {status:<{width}}  {n:>8,}", file=out)
  if summary.get("regions_kept") or summary.get("regions_dropped"):
    print(f"regions: {summary['regions_kept']:,} on {summary['regions_examples']:,} examples, "
          f"{summary['regions_dropped']:,} malformed dropped", file=out)
  print(f"annotations: {output}/annotations-*.parquet", file=out)
  print(f"summary:     {output}/summary.json", file=out)


def _add_shard_options(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--shard-size", type=int, default=1000, help="examples per curated shard (default 1000)")
  parser.add_argument("--resize", type=int, default=None, metavar="PX",
                      help="resize so the shorter side is at most PX (JPEG, quality 95); default: original bytes")
  parser.add_argument("--format", choices=("webdataset", "tfrecord"), default="webdataset",
                      help="webdataset tars (default) or TFRecord files of tf.train.Example")
  parser.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")


def _register_materialize(jobs) -> None:
  parser = jobs.add_parser(
      "materialize", help="write curated shards (webdataset or TFRecord) for a selection",
      description="Join a selection with the raw shards and write curated shards, parquet sidecars, "
                  "manifest.json and report.html. Finished shards are kept on a rerun. Unknown flags are Beam options.")
  parser.add_argument("--selection", required=True, help="output directory of `curate select`")
  input_args.add_input_option(parser, required=False)
  parser.add_argument("--output", required=True, help="output directory for the curated shards")
  parser.add_argument("--annotations", default=None, help="annotation directory (default: from the selection)")
  parser.add_argument("--prefix", default="shard", help="shard file name prefix (default: shard)")
  parser.add_argument("--overwrite", action="store_true", help="rewrite shards that are already complete")
  parser.add_argument("--no-report", action="store_true", help="do not write OUTPUT/report.html")
  _add_shard_options(parser)
  parser.set_defaults(func=_run_materialize, accepts_pipeline_options=True)


def _run_materialize(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines.materialize.materialize import run_materialize  # pylint: disable=import-outside-toplevel
  from webpairs.report.html import write_report  # pylint: disable=import-outside-toplevel

  inputs = input_args.shard_patterns(args.input)
  manifest = run_materialize(args.selection, args.output, inputs, pipeline_args, shard_size=args.shard_size,
                             resize=args.resize, fmt=args.format, prefix=args.prefix,
                             annotations_dir=args.annotations, overwrite=args.overwrite,
                             show_progress=not args.no_progress)
  print_manifest(manifest, args.output)
  if not args.no_report:
    print(f"report:      {write_report(args.output, args.selection, manifest, annotations_dir=args.annotations)}")
  return not_written_exit(manifest)


def not_written_exit(manifest: dict) -> int:
  """1 (with the count on stderr) when any selected copy was not written, else 0: never a short output with exit 0."""
  missing = sum(manifest["not_written"].values())
  if not missing:
    return 0
  reasons = ", ".join(f"{reason}: {n:,}" for reason, n in manifest["not_written"].items())
  print(f"error: {missing:,} of {manifest['planned_copies']:,} selected copies were not written ({reasons}); "
        f"see not_written in manifest.json", file=sys.stderr)
  return 1


def print_manifest(manifest: dict, output: str) -> None:
  out = sys.stdout
  print(f"materialized {manifest['examples']:,} examples of {manifest['planned_copies']:,} selected copies into "
        f"{manifest['num_shards']} shards ({manifest['bytes'] / 1e6:,.1f} MB) in {manifest.get('seconds', 0):.1f}s",
        file=out)
  for reason, n in manifest["not_written"].items():
    print(f"  not written, {reason}: {n:,}", file=out)
  if manifest.get("shuffle"):
    print(f"shuffled {manifest['shuffle']['total_bytes'] / 1e6:,.1f} MB, {manifest['shuffle']['bytes_per_row']:,.0f} "
          f"bytes per example (metadata only)", file=out)
  print(f"shards:      {output}/{manifest['prefix']}-*.{'tar' if manifest['format'] == 'webdataset' else 'tfrecord'}"
        f" (+ .parquet sidecars)", file=out)
  print(f"manifest:    {output}/manifest.json", file=out)
  print(f"sizes:       {output}/sizes.json (examples per shard, for open_clip)", file=out)


def _register_run(jobs) -> None:
  parser = jobs.add_parser(
      "run", help="annotate, select and materialize in one command, then the curation report",
      description="Runs annotate -> select -> materialize into OUTPUT/annotations, OUTPUT/selection and "
                  "OUTPUT/shards, then writes OUTPUT/report.html. Each stage resumes. Config overrides: "
                  "--config.KEY=VALUE or --config.KEY VALUE (e.g. --config.filters.min_side=64). "
                  "Unknown flags are Beam options.")
  input_args.add_input_option(parser)
  parser.add_argument("--config", required=True,
                      help="curation config: a shipped name (raw, quality, lang_rebalanced, en90, m4_balanced) "
                           "or a .py file")
  parser.add_argument("--output", required=True, help="output directory of the whole run")
  _add_shard_options(parser)
  _add_regions_option(parser)
  score_command.add_scores_option(parser)
  parser.set_defaults(func=_run_curation, accepts_pipeline_options=True, takes_config_overrides=True)


def _run_curation(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.balancing import m4  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.curate import run_curation  # pylint: disable=import-outside-toplevel

  overrides = args.config_overrides
  try:
    inputs = input_args.shard_patterns(args.input)
    result = run_curation(inputs, args.config, args.output, pipeline_args, overrides=overrides,
                          shard_size=args.shard_size, resize=args.resize, fmt=args.format,
                          show_progress=not args.no_progress, regions_dir=args.regions, scores_dir=args.scores)
  except m4.InfeasibleError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print_summary(result["annotate"], result["outputs"]["annotations"])
  if not result["select_ran"]:
    print("select: same config and annotations as the last run, selection reused")
  print_select_summary(result["select"], result["outputs"]["selection"])
  print_manifest(result["manifest"], result["outputs"]["shards"])
  print(f"report:      {result['report']}")
  print(f"total:       {result['seconds']:.1f}s")
  return not_written_exit(result["manifest"])


def _register_select(jobs) -> None:
  select = jobs.add_parser(
      "select", help="metadata only: keep/repeat/cluster/reason per example from annotations and a curation config",
      description="Select from annotations with a curation config (a shipped name: raw, quality, lang_rebalanced, "
                  "en90; or a .py file). Override config fields with --config.KEY=VALUE or --config.KEY VALUE (e.g. "
                  "--config.filters.min_side=64, --config.quotas.shares=\"{'en': 0.9}\"). "
                  "Unknown flags are Beam options.")
  select.add_argument("--annotations", required=True, help="directory of annotations-*.parquet (annotate's output)")
  select.add_argument("--config", required=True, help="curation config: shipped name or path to a .py file")
  select.add_argument("--output", required=True, help="output directory for selection-*.parquet and summary.json")
  select.add_argument("--eval-index", action="append", default=[], metavar="INDEX",
                      help="eval index file (from index-eval) to dedup against; repeatable, adds to eval.indexes")
  select.add_argument("--overwrite", action="store_true", help="delete selection files of other annotations in OUTPUT")
  select.add_argument("--no-progress", action="store_true", help="no progress lines on local runs")
  select.set_defaults(func=_run_select, accepts_pipeline_options=True, takes_config_overrides=True)


def _run_select(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.balancing import m4  # pylint: disable=import-outside-toplevel
  from webpairs.configs.curation import load_curation_config  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.select.select import run_select  # pylint: disable=import-outside-toplevel

  config = load_curation_config(args.config, args.config_overrides)
  if args.eval_index:
    config.eval.indexes = tuple(config.eval.indexes) + tuple(args.eval_index)
  try:
    summary = run_select(args.annotations, config, args.output, pipeline_args, overwrite=args.overwrite,
                         show_progress=not args.no_progress)
  except m4.InfeasibleError as e:  # a config problem, said in one line; the job wrote no selection
    print(f"error: {e}", file=sys.stderr)
    return 1
  print_select_summary(summary, args.output)
  return 0


def print_select_summary(summary: dict, output: str) -> None:
  out = sys.stdout
  n = summary["input_examples"]
  print(f"selected from {n:,} examples ({summary['config']['name']}, config {summary['config_hash']}) "
        f"in {summary.get('seconds', 0):.1f}s: {summary['kept']:,} kept, {n - summary['kept']:,} rejected, "
        f"{summary['written']:,} copies to write", file=out)
  counts = summary["reason_counts"]
  width = max(len(k) for k in counts) if counts else 0
  for reason, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
    print(f"  {reason:<{width}}  {c:>8,}", file=out)
  near = summary["near_dup"]
  if near.get("enabled"):
    print(f"near-duplicate clusters: {near.get('clusters', 0):,} (threshold {near['threshold']}; components "
          f"converged in {near.get('rounds', 0)} of {near.get('round_budget', 0)} rounds)", file=out)
  if summary.get("shuffle"):
    print(f"shuffled {summary['shuffle']['total_bytes'] / 1e6:,.1f} MB, {summary['shuffle']['bytes_per_row']:,.0f} "
          f"bytes per input row (metadata only)", file=out)
  balance = summary.get("balance") or {}
  if balance.get("enabled") and (balance.get("bias") or {}).get("after"):
    bias = balance["bias"]
    flag = f"; INFEASIBLE ({balance['reason']})" if balance["infeasible"] else ""
    print(f"M4 balance: kept {balance['kept_rows']:,} of {balance['pool_rows']:,} pool copies "
          f"(eta {balance['eta']:g}); "
          f"worst tolerance excess {bias['before']['worst_violation']:.4g} before, "
          f"{bias['after_expected']['worst_violation']:.4g} expected after, {bias['after']['worst_violation']:.4g} "
          f"realised{flag}", file=out)
  print(f"selection: {output}/selection-*.parquet", file=out)
  print(f"summary:   {output}/summary.json", file=out)


def _register_index_eval(jobs) -> None:
  index = jobs.add_parser(
      "index-eval", help="perceptual-hash index of an eval set's images, for select's eval-set dedup",
      description="Hash an evaluation set's images (as annotate hashes them) into a versioned index file.")
  index.add_argument("--images", required=True, help="directory (searched recursively) or comma-separated globs")
  index.add_argument("--name", required=True, help="eval set name; select's reason is eval_overlap:NAME")
  index.add_argument("--output", required=True, help="index .parquet path, or a directory for NAME-VERSION.parquet")
  index.add_argument("--checkpoint", default=None, metavar="WORKDIR",
                     help="index image embeddings of this two-tower checkpoint instead of perceptual hashes "
                          "(select's eval.embedding_indexes; finds crops that hashes miss)")
  index.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest)")
  index.set_defaults(func=_run_index_eval)


def _run_index_eval(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  del pipeline_args  # not a Beam job
  from webpairs.pipelines.index_eval.eval_index import build_eval_index  # pylint: disable=import-outside-toplevel

  if args.checkpoint:
    from webpairs.pipelines.index_eval.eval_embed_index import build_embedding_index  # pylint: disable=import-outside-toplevel
    result = build_embedding_index(args.images, args.name, args.output, args.checkpoint, args.step)
  else:
    result = build_eval_index(args.images, args.name, args.output)
  print(f"eval index {result['name']} version {result['version']}: {result['images']:,} images "
        f"-> {result['output']}", file=sys.stdout)
  for failed in result["failed"]:
    print(f"  not indexed: {failed['path']}: {failed['reason']} ({failed['detail']})", file=sys.stdout)
  return 0
