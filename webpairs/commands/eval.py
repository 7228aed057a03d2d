"""`webpairs eval --workdir W [--checkpoint STEP] --evals NAMES --data-root DIR [--config.NAME.KEY=VALUE ...]`:
evaluate a checkpoint, write W/eval/.

NAMES are eval names or suites (comma-separated): the built-ins of webpairs.configs.evals
and the typed entries of the run's own config (config.evals in W/config.json).
`--config.NAME.KEY=VALUE` (or `--config.NAME.KEY VALUE`) sets a key of one of those evals,
e.g. --config.synthetic_zeroshot.max_examples=20.
`webpairs eval --write-synthetic DIR` writes the small labelled synthetic eval set instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
  p = subparsers.add_parser(
      "eval", help="evaluate a trained checkpoint: zero-shot, retrieval, geo-localization, disparity, bias",
      description=__doc__,
      epilog="example: webpairs eval --workdir runs/tiny --evals synthetic --data-root evaldata/  "
      "(after: webpairs eval --write-synthetic evaldata/synthetic)")
  p.add_argument("--workdir", help="a `webpairs pretrain` workdir; results go to WORKDIR/eval/")
  p.add_argument("--checkpoint", type=int, default=None, help="step to evaluate (default: the newest checkpoint)")
  p.add_argument("--evals", default="", help="comma-separated eval or suite names (e.g. cultural,xm3600 or synthetic)")
  p.add_argument("--data-root", default=".", help="folder holding each eval set's folder (dollarstreet/, xm3600/, ...)")
  p.add_argument("--tokenizer", default=None, help="SentencePiece model (default: the one in the run's config)")
  p.add_argument("--max-examples", type=int, default=None, help="evaluate at most this many images per eval")
  p.add_argument("--batch-size", type=int, default=None, help="images / texts per model call")
  p.add_argument("--list", action="store_true", help="list the known evals and suites and exit")
  p.add_argument("--write-synthetic", metavar="DIR", default=None,
                 help="write the synthetic labelled eval set (Dollar Street + XM3600 formats) to DIR and exit")
  p.add_argument("--examples", type=int, default=240, help="images in the synthetic set (with --write-synthetic)")
  p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set (with --write-synthetic)")
  p.set_defaults(func=run, accepts_pipeline_options=False, takes_config_overrides=True)


def load_model(workdir: str, step: int | None, tokenizer: str | None) -> tuple[Any, int]:
  """(model, step) of a checkpoint; JAX is imported only here."""
  from webpairs.pretrain.inference import loader  # pylint: disable=import-outside-toplevel
  return loader.load_checkpoint(workdir, step, tokenizer=tokenizer)


def _run_config_evals(workdir: str) -> dict[str, dict[str, Any]]:
  from webpairs.eval import registry  # pylint: disable=import-outside-toplevel
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return registry.eval_configs(json.load(f).get("evals") or {})


def _error(message: str) -> int:
  print(f"webpairs eval: error: {message}", file=sys.stderr)
  return 2


def run(args: argparse.Namespace, extra: list[str]) -> int:
  del extra  # argparse rejected unknown flags already
  from webpairs.configs import evals  # pylint: disable=import-outside-toplevel
  from webpairs.demo import synthetic  # pylint: disable=import-outside-toplevel
  from webpairs.eval import report  # pylint: disable=import-outside-toplevel

  if args.write_synthetic:
    s = synthetic.write_eval_set(args.write_synthetic, args.examples, args.seed)
    print(f"wrote {s.num_images} images to {s.output_dir}: {s.metadata} (Dollar Street format), "
          f"{s.captions} (XM3600 format)")
    print(f"  classes {s.labels}\n  countries {s.countries}\n  income buckets {s.incomes}")
    return 0
  own = _run_config_evals(args.workdir) if args.workdir else {}
  if args.list:
    for name, cfg in {**evals.EVALS, **own}.items():
      print(f"{name}: {cfg['type']} on {cfg['dataset']} ({cfg.get('data_dir') or cfg['dataset']}/)")
    for name, members in evals.SUITES.items():
      print(f"suite {name}: {', '.join(members)}")
    return 0
  if not args.workdir or not args.evals:
    return _error("--workdir and --evals are required (or --write-synthetic DIR, or --list)")
  try:
    configs = evals.resolve([n.strip() for n in args.evals.split(",") if n.strip()], own)
  except KeyError as e:
    return _error(e.args[0])
  for cfg in configs.values():
    if args.max_examples:
      cfg["max_examples"] = args.max_examples
    if args.batch_size:
      cfg["batch_size"] = args.batch_size
  configs = evals.override(configs, args.config_overrides)  # a bad one exits 2 (webpairs.cli)
  try:
    step, metrics, paths = evaluate(args.workdir, configs, args.data_root, step=args.checkpoint,
                                    tokenizer=args.tokenizer)
  except (FileNotFoundError, ValueError, KeyError) as e:
    return _error(str(e))
  print(report.markdown(metrics, step))
  print(f"wrote {paths['json']}, {paths['markdown']} and {paths['html']}")
  return 0


def evaluate(workdir: str, configs: dict[str, dict[str, Any]], data_root: str, *, step: int | None = None,
             tokenizer: str | None = None) -> tuple[int, dict[str, float], dict[str, str]]:
  """(step, metrics, output paths): the evals of `configs` on a workdir's checkpoint, results in workdir/eval/.

  What `webpairs eval` and the demo call; configs come from webpairs.configs.evals.resolve.
  """
  from webpairs.eval import registry, report  # pylint: disable=import-outside-toplevel
  # Datasets first: a missing image fails in seconds, before a model is restored.
  evaluators = registry.from_config(configs, data_root=data_root)
  model, step = load_model(workdir, step, tokenizer)
  metrics = registry.run_all(evaluators, model)
  paths = report.write_results(workdir, step, metrics, configs=configs,
                               checkpoint=os.path.join(workdir, "checkpoints", str(step)))
  return step, metrics, paths
