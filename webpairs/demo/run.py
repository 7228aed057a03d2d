"""`webpairs demo`: the main job end to end on a built-in sample, printing where each output is."""

from __future__ import annotations

import argparse
import os
import time


def register(subparsers) -> None:
  demo = subparsers.add_parser("demo", help="run the main job end to end on a generated sample",
                               description=__doc__)
  demo.add_argument("--output", default="demo_out", help="output directory (default: demo_out)")
  demo.add_argument("--examples", type=int, default=1500, help="examples in the generated sample")
  demo.add_argument("--seed", type=int, default=0, help="sample seed")
  demo.add_argument("--config", default="quality", help="curation config for `curate run` (default: quality)")
  demo.add_argument("--shard-size", type=int, default=100, help="examples per curated shard")
  demo.add_argument("--steps", type=int, default=300, help="tiny SigLIP training steps (0: stop after curation)")
  demo.add_argument("--vocab-size", type=int, default=1000, help="SentencePiece vocabulary of the demo tokenizer")
  demo.set_defaults(func=run, accepts_pipeline_options=True)


def _stage(title: str) -> float:
  print(f"\n== {title}", flush=True)
  return time.time()


def run(args: argparse.Namespace, pipeline_args: list[str]) -> int:
  from webpairs.pipelines import command  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.curate import run_curation  # pylint: disable=import-outside-toplevel
  from webpairs.demo.sample import writer  # pylint: disable=import-outside-toplevel

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

  lines = [
      ("raw shards + planted truth", f"{raw}/*.tar, {raw}/truth.parquet"),
      ("annotations", f"{outputs['annotations']}/annotations-*.parquet, summary.json"),
      ("selection", f"{outputs['selection']}/selection-*.parquet, summary.json"),
      ("curated shards", f"{outputs['shards']}/shard-*.tar (+ .parquet sidecars), manifest.json"),
      ("curation report", f"{result['report']} (open it in a browser)"),
  ]
  if args.steps > 0:
    lines += _pretrain_and_evaluate(out, outputs["shards"], args)
  print(f"\ndemo outputs under {out}:")
  for name, where in lines:
    print(f"  {name + ':':<28}{where}")
  return 0


def _pretrain_and_evaluate(out: str, shards: str, args: argparse.Namespace) -> list[tuple[str, str]]:
  """Tokenizer from the curated shards, a tiny SigLIP on them, evals on a synthetic labelled set."""
  from webpairs.configs import evals, loader  # pylint: disable=import-outside-toplevel
  from webpairs.demo import synthetic  # pylint: disable=import-outside-toplevel
  from webpairs.eval import hooks, report  # pylint: disable=import-outside-toplevel
  from webpairs.pretrain import trainer  # pylint: disable=import-outside-toplevel
  from webpairs.tokenizers import train_tokenizer  # pylint: disable=import-outside-toplevel

  tokenizer = os.path.join(out, "tokenizer")
  start = _stage(f"3. tokenizer train: SentencePiece ({args.vocab_size} pieces) from the curated shards -> {tokenizer}")
  info = train_tokenizer([shards], tokenizer, args.vocab_size, num_threads=2)
  print(f"trained {info.get('vocab_size', args.vocab_size)} pieces in {time.time() - start:.1f}s")

  evaldata = os.path.join(out, "evaldata")
  synthetic.write_eval_set(os.path.join(evaldata, "synthetic"), seed=args.seed)
  workdir = os.path.join(out, "pretrain")
  _stage(f"4. pretrain: tiny SigLIP for {args.steps} steps on the curated shards -> {workdir}")
  config = loader.load_config(loader.PRETRAIN, "siglip:tiny")
  config.input.shards = shards
  config.input.tokenizer = tokenizer
  config.total_steps = args.steps
  config.eval_data_root = evaldata
  for name, entry in evals.resolve(["synthetic"]).items():
    config.evals[name] = dict(entry, every_steps=0)  # at the end of training
  final = trainer.train(config, workdir, hooks=hooks.from_config(config, workdir=workdir))

  _stage(f"5. evals on a synthetic labelled set ({evaldata}): zero-shot with per-group disparity, "
         "retrieval, few-shot geo-localization")
  evals = {k: v for k, v in final.items() if k.split("/")[0] in config.evals and not k.endswith("/seconds")}
  print(report.markdown(evals, int(final["step"])))
  return [("tokenizer", f"{tokenizer}/spm.model, tokenizer.json"),
          ("pretraining run", f"{workdir}/metrics.jsonl, checkpoints/, TensorBoard events"),
          ("eval results", f"{workdir}/eval/{int(final['step'])}.json, {workdir}/eval/report.html")]
