"""Which command-line arguments Beam understands: the rest is an error, never a silent log line."""

from __future__ import annotations

import argparse
import contextlib
import io

from apache_beam.options.pipeline_options import PipelineOptions


def _beam_parser() -> argparse.ArgumentParser:
  # As PipelineOptions.get_all_options builds it: every registered options class adds its flags.
  parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
  seen: dict[str, type] = {}
  for cls in PipelineOptions.__subclasses__():
    seen.setdefault(str(cls), cls)
  for cls in seen.values():
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
  return parser


def split(args: list[str]) -> tuple[list[str], list[str], list[str]]:
  """(Beam flags with their values, stray positional words, flags Beam does not know).

  Stray words are what an unquoted glob expands to (`--input dir/*.tar` gives one word
  per shard after the first); a command that takes shard paths uses them, others reject them.
  """
  known_parser = _beam_parser()
  with contextlib.redirect_stderr(io.StringIO()):  # a bad value is reported by Beam itself later
    try:
      _, unknown = known_parser.parse_known_args(args)
    except SystemExit:
      unknown = []
  stray = [a for a in unknown if not a.startswith("-")]
  bad = [a for a in unknown if a.startswith("-")]
  # Keep the caller's order for what Beam gets; drop exactly the words it did not know.
  rest = list(unknown)
  beam = []
  for a in args:
    if rest and a == rest[0]:
      rest.pop(0)
    else:
      beam.append(a)
  return beam, stray, bad
