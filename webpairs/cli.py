"""`webpairs ...` entry point: one sub-command per job, each registered by its own module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Top-level command -> module with `register(subparsers)`; imported lazily so that
# `webpairs sample` never pays for importing Beam or JAX.
COMMANDS: dict[str, str] = {
    "sample": "webpairs.demo.sample.command",
    "curate": "webpairs.pipelines.command",
    "demo": "webpairs.demo.run",
    "tokenizer": "webpairs.tokenizers.command",
    "pretrain": "webpairs.commands.pretrain",
    "eval": "webpairs.commands.eval",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="webpairs", description=__doc__)
  parser.add_argument("--log-level", default="WARNING",
                      help="Python logging level (default WARNING: webpairs' own warnings, no Beam chatter; "
                           "INFO or DEBUG add Beam's worker lines)")
  sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
  # Only import the module of the command asked for (all of them for --help).
  wanted = [a for a in argv if a in COMMANDS][:1] or list(COMMANDS)
  for name in COMMANDS:
    if name in wanted:
      importlib.import_module(COMMANDS[name]).register(sub)
    else:
      sub.add_parser(name)
  return parser


def main(argv: list[str] | None = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  parser = build_parser(argv)
  overrides: list[str] = []
  # argparse cannot declare a family of flags: `--config.KEY=VALUE` and `--config.KEY VALUE` are taken out
  # first, for every command alike (the loader imports ml_collections: only when there are some).
  if any(a.startswith("--config.") for a in argv):
    from webpairs.configs import loader  # pylint: disable=import-outside-toplevel
    try:
      argv, overrides = loader.split_overrides(argv)
    except loader.ConfigError as e:
      parser.error(str(e))
  # Unknown flags go to Beam (runner options) for the commands that accept them.
  args, extra = parser.parse_known_args(argv)
  _configure_logging(args.log_level)
  if overrides and not getattr(args, "takes_config_overrides", False):
    parser.error(f"`webpairs {args.command}` takes no config overrides: {' '.join('--config.' + o for o in overrides)}")
  args.config_overrides = overrides
  if extra and not getattr(args, "accepts_pipeline_options", False):
    parser.error(f"unrecognized arguments: {' '.join(extra)}")
  if extra:
    extra = _check_pipeline_args(parser, args, extra)
  if getattr(args, "shard_paths_required", False) and not getattr(args, args.shard_paths):
    parser.error("no input shards: give --input GLOB [GLOB ...] (or shard paths)")
  try:
    return int(args.func(args, extra) or 0)
  except ValueError as e:
    # A bad config or override (an unknown key names the close matches) is a usage error: exit 2, no traceback.
    loader = sys.modules.get("webpairs.configs.loader")
    if loader is None or not isinstance(e, loader.ConfigError):
      raise
    parser.exit(2, f"webpairs {args.command}: error: {e}\n")


def _check_pipeline_args(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> list[str]:
  """Beam's flags go on; stray words are shard paths where the job takes them (an unquoted glob);
  anything else exits 2 naming it, never reaching Beam, which would only log "Unparseable
  argument" and run on part of the input."""
  from webpairs.pipelines.runtime import beam_args  # pylint: disable=import-outside-toplevel

  beam, stray, bad = beam_args.split(extra)
  if stray and getattr(args, "shard_paths", None):
    setattr(args, args.shard_paths, (getattr(args, args.shard_paths) or []) + stray)
    stray = []
  if stray or bad:
    hint = " (quote a glob such as --input 'dir/*.tar', or list shards after --input)" if stray else ""
    parser.error(f"arguments neither webpairs nor Beam understands: {' '.join(stray + bad)}{hint}")
  return beam


def _configure_logging(level: str) -> None:
  # webpairs.pipelines.runtime.logs imports no Beam: cheap for every command.
  from webpairs.pipelines.runtime import logs  # pylint: disable=import-outside-toplevel

  logs.configure(level)


if __name__ == "__main__":
  sys.exit(main())
