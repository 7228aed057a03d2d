"""Loads a Python config file by shipped name or path and applies `key=value` overrides.

Configs are locked after loading, so a misspelt key in a file or an override is an
error instead of a silently ignored setting.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
from collections.abc import Iterable

import ml_collections


def _module_config(package: str, name_or_path: str) -> ml_collections.ConfigDict:
  if name_or_path.endswith(".py") or os.sep in name_or_path:
    if not os.path.isfile(name_or_path):
      raise FileNotFoundError(f"config file {name_or_path!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"_webpairs_config_{abs(hash(name_or_path))}", name_or_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  else:
    try:
      module = importlib.import_module(f"{package}.{name_or_path}")
    except ModuleNotFoundError as e:
      if e.name != f"{package}.{name_or_path}":
        raise
      raise ValueError(f"no shipped config {name_or_path!r} in {package}; "
                       f"pass a shipped name ({', '.join(shipped_names(package))}) or a path to a .py file") from None
  if not hasattr(module, "get_config"):
    raise ValueError(f"config {name_or_path!r} has no get_config()")
  return module.get_config()


def shipped_names(package: str) -> list[str]:
  """Config names shipped in `package` (its modules with a get_config)."""
  folder = os.path.dirname(importlib.import_module(package).__file__)
  return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def _parse_value(text: str, current):
  """The override's value, read as a Python literal when it is one (else as a string)."""
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  if isinstance(current, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
    value = value.lower() == "true"
  elif isinstance(current, tuple) and isinstance(value, str):
    value = tuple(v.strip() for v in value.split(",") if v.strip())  # langs=en,de
  elif isinstance(current, tuple) and isinstance(value, list):
    value = tuple(value)
  elif isinstance(current, str) and not isinstance(value, str):
    value = text  # a string field keeps what was typed ('1' stays '1')
  elif isinstance(current, float) and isinstance(value, str):
    try:
      value = float(text)  # 'inf' and 'nan' are floats but not Python literals
    except ValueError:
      pass  # left a string: the assignment reports the type error
  return value


def parse_overrides(args: Iterable[str], prefix: str = "--config.") -> tuple[list[str], list[str]]:
  """Splits command-line words into (`key=value` overrides, the rest)."""
  overrides, rest = [], []
  for arg in args:
    if arg.startswith(prefix):
      if "=" not in arg:
        raise ValueError(f"config override {arg!r} needs the form {prefix}KEY=VALUE")
      overrides.append(arg[len(prefix):])
    else:
      rest.append(arg)
  return overrides, rest


def apply_override(config: ml_collections.ConfigDict, assignment: str) -> None:
  """Sets `a.b.c=value` on a locked config; unknown keys and wrong types are errors."""
  key, sep, text = assignment.partition("=")
  if not sep or not key:
    raise ValueError(f"config override {assignment!r} is not KEY=VALUE")
  *parents, leaf = key.split(".")
  node = config
  for i, part in enumerate(parents):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise KeyError(f"unknown config key {'.'.join(parents[:i + 1])!r} (in override {assignment!r})")
    node = node[part]
  if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
    known = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else "none"
    raise KeyError(f"unknown config key {key!r}; keys here: {known}")
  current = node[leaf]
  value = _parse_value(text, current)
  if isinstance(current, ml_collections.ConfigDict):
    if not isinstance(value, dict):
      raise TypeError(f"config key {key!r} holds a mapping; give a dict literal, got {text!r}")
    value = ml_collections.ConfigDict(value)
    value.lock()
  try:
    node[leaf] = value
  except TypeError as e:
    raise TypeError(f"config key {key!r}: {e}") from None


def load_config(package: str, name_or_path: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
  """`package.<name>.get_config()` or the file at `name_or_path`, locked, with overrides applied."""
  config = _module_config(package, name_or_path)
  if not isinstance(config, ml_collections.ConfigDict):
    raise TypeError(f"get_config() of {name_or_path!r} returned {type(config).__name__}, not a ConfigDict")
  config.lock()
  for assignment in overrides:
    apply_override(config, assignment)
  return config
