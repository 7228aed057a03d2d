"""The one config loader: curation, pretraining and eval configs by shipped name or path, with `--config.KEY=VALUE`
overrides read the same way for all three (the value takes the type of the field it replaces).

A spec is `name[:arg]` or `path/to/file.py[:arg]`; a config file's `get_config(arg)` reads `arg` with parse_arg
(big_vision style: 'variant=B/16,res=224,tiny').
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import os
from collections.abc import Iterable, Sequence
from typing import Any

import ml_collections

CURATION = "webpairs.configs.curation"
PRETRAIN = "webpairs.configs.pretrain"
PREFIX = "--config."
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ConfigError(ValueError):
  """A config or override the loader cannot use; commands exit 2 with its message."""

  def __str__(self) -> str:
    return str(self.args[0]) if self.args else ""


class UnknownKeyError(ConfigError, KeyError):
  """An override or config argument names a key the config does not have."""


class OverrideTypeError(ConfigError, TypeError):
  """An override's value cannot take the type of the field it replaces."""


def shipped_names(package: str) -> list[str]:
  """Config names shipped in `package` (its modules, each with a get_config)."""
  folder = os.path.dirname(importlib.import_module(package).__file__)
  return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def _module(package: str, name_or_path: str) -> Any:
  if os.path.isfile(name_or_path):
    spec = importlib.util.spec_from_file_location(f"_webpairs_config_{abs(hash(name_or_path))}", name_or_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
  name = name_or_path[:-3] if name_or_path.endswith(".py") else name_or_path
  if os.sep in name or "/" in name:
    raise ConfigError(f"config file {name_or_path!r} does not exist")
  try:
    return importlib.import_module(f"{package}.{name}")
  except ModuleNotFoundError as e:
    if e.name != f"{package}.{name}":
      raise
    raise ConfigError(f"no shipped config {name!r} in {package}; pass a shipped name "
                            f"({', '.join(shipped_names(package))}) or a path to a .py file") from None


def load_config(package: str, spec: str, overrides: Iterable[str] = (), *, lock: bool = False
                ) -> ml_collections.ConfigDict:
  """`package.<name>.get_config([arg])` or the file's, for spec `name[:arg]` or `file.py[:arg]`, overrides applied.

  lock=True forbids adding keys afterwards (curation configs: a misspelt key in code is an error too).
  """
  name_or_path, sep, arg = spec.partition(":")
  module = _module(package, name_or_path)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config {name_or_path!r} has no get_config()")
  config = module.get_config(arg) if sep and arg else module.get_config()
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"get_config() of {name_or_path!r} returned {type(config).__name__}, not a ConfigDict")
  if lock:
    config.lock()
  return apply_overrides(config, overrides)


def parse_arg(arg: str | None, *, lazy: bool = False, **spec: Any) -> ml_collections.ConfigDict:
  """'variant=B/16,res=224,tiny' -> ConfigDict, each value cast to its default's type (bare words are True).

  Keys not in `spec` are errors unless lazy=True (then kept as read).
  """
  out = ml_collections.ConfigDict(dict(spec))
  for item in (arg or "").split(","):
    item = item.strip()
    if not item:
      continue
    key, sep, value = item.partition("=")
    key = key.strip()
    if key not in spec and not lazy:
      raise UnknownKeyError(unknown_message(f"config argument {key!r}", key, spec))
    with out.ignore_type():  # a None default takes any type; the others were cast to theirs
      out[key] = coerce(value.strip(), spec.get(key), key) if sep else True
  return out


def coerce(text: str, current: Any, key: str = "") -> Any:
  """The override text `text` as a value of `current`'s type (a Python literal where the field has no type)."""
  def bad(kind: str) -> OverrideTypeError:
    return OverrideTypeError(f"config key {key!r} holds {kind}; cannot set it to {text!r}")

  if isinstance(current, bool):
    if text.lower() in _TRUE:
      return True
    if text.lower() in _FALSE:
      return False
    raise bad("a boolean (true/false)")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError:
      pass
    try:
      number = float(text)  # 1e4 is an int here
    except ValueError:
      raise bad("an int") from None
    if not number.is_integer():
      raise bad("an int")
    return int(number)
  if isinstance(current, float):
    try:
      return float(text)  # also 'inf' and 'nan', which are no Python literals
    except ValueError:
      raise bad("a float") from None
  if isinstance(current, str):
    return text  # a string field keeps what was typed ('1' stays '1')
  value = _literal(text)
  if isinstance(current, tuple):
    if isinstance(value, str):
      return tuple(v.strip() for v in value.split(",") if v.strip())  # langs=en,de
    if isinstance(value, (list, tuple)):
      return tuple(value)
    raise bad("a tuple")
  if isinstance(current, list):
    if isinstance(value, (list, tuple)):
      return list(value)
    raise bad("a list")
  if isinstance(current, ml_collections.ConfigDict):
    if not isinstance(value, dict):
      raise bad("a mapping (give a dict literal)")
    return value
  return value  # None (any type) or a plain dict


def _literal(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def unknown_message(what: str, key: str, known: Iterable[str]) -> str:
  """'unknown WHAT; did you mean CLOSE? (known: ...)': the error text for a key not in `known`."""
  known = sorted(known)
  close = difflib.get_close_matches(key, known, n=3)
  hint = f"; did you mean {', '.join(close)}?" if close else ""
  return f"unknown {what}{hint} (known: {', '.join(known) or 'none'})"


def apply_override(config: ml_collections.ConfigDict, assignment: str) -> None:
  """Sets `a.b.c=value` on `config`; an unknown key or a value of the wrong type is an error."""
  key, sep, text = assignment.partition("=")
  if not sep or not key:
    raise ConfigError(f"config override {assignment!r} is not KEY=VALUE")
  *parents, leaf = key.split(".")
  node = config
  for i, part in enumerate(parents):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = node.keys() if isinstance(node, ml_collections.ConfigDict) else ()
      raise UnknownKeyError(unknown_message(f"config key {'.'.join(parents[:i + 1])!r}", part, where))
    node = node[part]
  if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
    where = node.keys() if isinstance(node, ml_collections.ConfigDict) else ()
    raise UnknownKeyError(unknown_message(f"config key {key!r}", leaf, where))
  current = node[leaf]
  field_type = _field_type(node, leaf) if current is None else None
  # A typed placeholder (FieldReference(None, field_type=int)) reads the text as its type would.
  value = coerce(text, field_type() if field_type in (bool, int, float, str, tuple, list) else current, key)
  if isinstance(current, ml_collections.ConfigDict):
    value = ml_collections.ConfigDict(value)
    if current.is_locked:
      value.lock()
  try:
    if current is None and field_type is None:
      with node.ignore_type():  # an untyped None field takes any type
        node[leaf] = value
    else:
      node[leaf] = value
  except TypeError as e:
    raise OverrideTypeError(f"config key {key!r}: {e}") from None


def _field_type(node: ml_collections.ConfigDict, leaf: str) -> type | None:
  ref = node._fields.get(leaf)  # pylint: disable=protected-access  (ConfigDict has no public field_type getter)
  if isinstance(ref, ml_collections.FieldReference) and ref.get_type() is not type(None):
    return ref.get_type()
  return None


def apply_overrides(config: ml_collections.ConfigDict, assignments: Iterable[str]) -> ml_collections.ConfigDict:
  """apply_override for each `key=value`, in order; returns `config`."""
  for assignment in assignments:
    apply_override(config, assignment)
  return config


def split_overrides(argv: Sequence[str], prefix: str = PREFIX) -> tuple[list[str], list[str]]:
  """(the other words, ['a.b=value', ...]) from '--config.a.b=value' and '--config.a.b value'."""
  rest, overrides = [], []
  i = 0
  while i < len(argv):
    arg = argv[i]
    if arg.startswith(prefix):
      body = arg[len(prefix):]
      if "=" not in body:
        if i + 1 >= len(argv):
          raise ConfigError(f"{arg} needs a value ({prefix}KEY=VALUE or {prefix}KEY VALUE)")
        body, i = f"{body}={argv[i + 1]}", i + 1
      overrides.append(body)
    else:
      rest.append(arg)
    i += 1
  return rest, overrides
