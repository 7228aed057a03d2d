"""The `--input` option every curate job shares: raw shards as globs or paths, several or comma-separated."""

from __future__ import annotations

import argparse


def add_input_option(parser: argparse.ArgumentParser, required: bool = True) -> None:
  # Several values, so that an unquoted glob the shell expanded is read whole; shard
  # paths given elsewhere on the line are added by the cli (see cli._check_pipeline_args).
  parser.add_argument("--input", nargs="+", action="extend", default=None, metavar="GLOB",
                      help="raw shards: globs or paths, several or comma-separated (local, gs://, s3://)"
                           + ("" if required else "; default: the annotate job's inputs"))
  parser.set_defaults(shard_paths="input", shard_paths_required=required)


def shard_patterns(values: list[str] | None) -> list[str] | None:
  """--input values as a list of globs (each value may hold several, comma-separated)."""
  if values is None:
    return None
  return [p for value in values for p in value.split(",") if p]
