"""`webpairs pretrain --config FILE[:ARGS] --workdir W [--config.KEY=VALUE ...]`: train (or resume) a model on curated shards."""

from __future__ import annotations

import argparse
import json
import sys

def register(subparsers: argparse._SubParsersAction) -> None:
  p = subparsers.add_parser(
      "pretrain", help="train a SigLIP model on curated shards (JAX)", description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="example:\n  webpairs pretrain --config siglip:tiny --workdir runs/tiny \\\n"
      "    --config.input.shards=curated/shards --config.input.tokenizer=tok/")
  p.add_argument("--config", required=True,
                 help="config file with get_config(arg), optionally ':ARGS' (e.g. siglip.py:tiny or "
                 "siglip:variant=B/16,res=224,batch=32768); bare names are looked up in webpairs/configs/pretrain")
  p.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl, tensorboard/; a run resumes here")
  p.add_argument("--stop-at-step", type=int, default=None,
                 help="end after this step with a checkpoint (the schedule still runs to total_steps)")
  p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
  multi = p.add_argument_group(
      "multi-process (one command on every host)",
      "Without these flags or their WEBPAIRS_* variables, a cluster JAX detects (TPU pod slice, SLURM, GKE) "
      "starts jax.distributed by itself; elsewhere the run is one process.")
  multi.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                     help="address of process 0's coordination service (env WEBPAIRS_COORDINATOR)")
  multi.add_argument("--num-processes", type=int, default=None, help="processes in the run (env WEBPAIRS_NUM_PROCESSES)")
  multi.add_argument("--process-id", type=int, default=None, help="this process, 0..N-1 (env WEBPAIRS_PROCESS_ID)")
  multi.add_argument("--local-device-ids", default=None, metavar="I,J",
                     help="devices this process uses, e.g. one GPU per process (env WEBPAIRS_LOCAL_DEVICE_IDS)")
  p.set_defaults(func=run, accepts_pipeline_options=False, takes_config_overrides=True)


def run(args: argparse.Namespace, extra: list[str]) -> int:
  del extra  # no pipeline options: argparse rejected unknown flags already
  if not args.print_config:
    # Before the config: a config file may touch JAX, and the processes must join first.
    from webpairs.pretrain import distributed  # pylint: disable=g-import-not-at-top  # JAX only when asked
    try:
      setup = distributed.initialize(args.coordinator, args.num_processes, args.process_id,
                                     local_device_ids=args.local_device_ids)
    except (ValueError, RuntimeError) as e:
      print(f"webpairs pretrain: error: {e}", file=sys.stderr)
      return 2
    if setup.num_processes > 1:
      print(f"[pretrain] {setup.describe()}", file=sys.stderr, flush=True)
  from webpairs.configs import loader  # pylint: disable=g-import-not-at-top
  try:
    config = loader.load_config(loader.PRETRAIN, args.config, args.config_overrides)
  except (FileNotFoundError, KeyError, ValueError, TypeError) as e:
    print(f"webpairs pretrain: error: {e}", file=sys.stderr)
    return 2
  if args.print_config:
    print(config)
    return 0
  from webpairs.pretrain import xla_flags  # pylint: disable=g-import-not-at-top
  xla_flags.apply(config.get("xla_gpu_flags"))  # before anything starts JAX's backend
  from webpairs.eval import hooks as eval_hooks  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain import trainer  # pylint: disable=g-import-not-at-top
  done = False
  try:
    # The configured evals, run on the live model; process 0 writes their files.
    hooks = eval_hooks.from_config(config, workdir=args.workdir if setup.process_id == 0 else None)
    final = trainer.train(config, args.workdir, hooks=hooks, stop_at_step=args.stop_at_step)
    done = True
  except trainer.NonFiniteError as e:  # every process sees the same global loss and stops at the same step
    print(f"webpairs pretrain: stopped: {e}", file=sys.stderr)
    return 3
  except (FileNotFoundError, ValueError) as e:
    print(f"webpairs pretrain: error: {e}", file=sys.stderr)
    return 2
  except Exception:
    # Most often a collective that broke because another process died: the watchdog names it
    # and exits; anything else propagates, and the other processes name this one.
    distributed.failed()
    raise
  finally:
    distributed.finish(done)
  if setup.process_id == 0:  # one summary for the run, as the progress lines
    print(json.dumps({"workdir": args.workdir, **final}, sort_keys=True))
  return 0
