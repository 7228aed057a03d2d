"""Log output of the curation jobs: webpairs' own lines by default, Beam's chatter only at INFO or DEBUG.

Beam's local workers are separate processes that log INFO lines to stderr (and an
"apitools not found" warning on import) whatever the driver's level; `quiet_worker`
is their entry point here, and the level travels to them in WEBPAIRS_LOG_LEVEL.
"""

from __future__ import annotations

import logging
import os
import sys

LEVEL_ENV = "WEBPAIRS_LOG_LEVEL"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose records below ERROR are Beam's chatter unless INFO or DEBUG was asked for.
_CHATTY = ("apache_beam", "__main__")
_APITOOLS = "apitools not found"  # logged by Beam's bigquery client module on every import, on the root logger


class BeamChatterFilter(logging.Filter):
  """Drops Beam's records below ERROR when the configured level is above INFO."""

  def __init__(self, level: int):
    super().__init__()
    self._level = level

  def filter(self, record: logging.LogRecord) -> bool:
    if self._level <= logging.INFO or record.levelno >= logging.ERROR:
      return True
    if record.name == "root":
      return not str(record.msg).startswith(_APITOOLS)
    return not any(record.name == n or record.name.startswith(n + ".") for n in _CHATTY)


def level_from(name: str | int | None) -> int:
  """A logging level from 'warning', 'INFO', 10, ...; WARNING when unset."""
  if name is None or name == "":
    return logging.WARNING
  if isinstance(name, int) or str(name).isdigit():
    return int(name)
  level = logging.getLevelName(str(name).upper())
  if not isinstance(level, int):
    raise ValueError(f"unknown log level {name!r}; use DEBUG, INFO, WARNING or ERROR")
  return level


class _StderrHandler(logging.StreamHandler):
  """Writes to whatever sys.stderr is when a record comes (a test's capture, a redirected stream)."""

  def __init__(self):
    super().__init__()

  @property
  def stream(self):
    return sys.stderr

  @stream.setter
  def stream(self, value):
    del value


def _handler(level: int) -> logging.Handler:
  handler = _StderrHandler()
  handler.setFormatter(logging.Formatter(FORMAT))
  handler.setLevel(level)
  handler.addFilter(BeamChatterFilter(level))
  return handler


def configure(level_name: str | int | None) -> int:
  """Driver logging: a stderr handler at `level`, Beam's chatter filtered; workers get the level too.

  A second call replaces the handler of the first; other handlers (a test's) are left alone.
  """
  level = level_from(level_name)
  root = logging.getLogger()
  for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
    root.removeHandler(old)
  root.addHandler(_handler(level))
  root.setLevel(level)
  os.environ[LEVEL_ENV] = logging.getLevelName(level)
  return level


def worker_handler() -> logging.Handler:
  """The stderr handler of a Beam worker process, at the driver's level (WARNING when not told)."""
  return _handler(level_from(os.environ.get(LEVEL_ENV)))
