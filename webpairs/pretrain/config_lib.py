"""Config files (`path.py[:arg]` with `get_config(arg)`), big_vision-style `parse_arg`, and `key=value` overrides."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
from collections.abc import Sequence
from typing import Any

import ml_collections

CONFIG_DIR = pathlib.Path(__file__).resolve().parent / "configs"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_arg(arg: str | None, *, lazy: bool = False, **spec: Any) -> ml_collections.ConfigDict:
  """'variant=B/16,res=224,tiny' -> ConfigDict, each value cast to its default's type (bare words are True).

  Keys not in `spec` are errors unless lazy=True (then kept as strings).
  """
  out = ml_collections.ConfigDict(dict(spec))
  for item in (arg or "").split(","):
    item = item.strip()
    if not item:
      continue
    key, sep, value = item.partition("=")
    key = key.strip()
    if key not in spec and not lazy:
      raise ValueError(f"unknown config argument {key!r}; known: {', '.join(sorted(spec))}")
    out[key] = _cast(value.strip(), spec.get(key)) if sep else True
  return out


def _cast(text: str, like: Any) -> Any:
  if isinstance(like, bool):
    if text.lower() in _TRUE:
      return True
    if text.lower() in _FALSE:
      return False
    raise ValueError(f"expected a boolean, got {text!r}")
  if isinstance(like, int):
    return int(float(text)) if "e" in text.lower() else int(text)
  if isinstance(like, float):
    return float(text)
  if isinstance(like, str):
    return text
  try:  # None, tuples, lists, dicts: a Python literal, else the text itself
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def load(spec: str) -> ml_collections.ConfigDict:
  """'path/to/config.py:arg' (or a file name in webpairs/pretrain/configs, e.g. 'siglip:tiny') -> its get_config(arg)."""
  path, _, arg = spec.partition(":")
  file = pathlib.Path(path)
  if not file.is_file():
    named = CONFIG_DIR / (path if path.endswith(".py") else path + ".py")
    if not named.is_file():
      raise FileNotFoundError(f"config file {path} not found (nor {named})")
    file = named
  module_spec = importlib.util.spec_from_file_location(f"webpairs_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"{file} has no get_config(arg)")
  config = module.get_config(arg or None) if arg else module.get_config()
  return config


def override(config: ml_collections.ConfigDict, items: Sequence[str]) -> ml_collections.ConfigDict:
  """Apply 'a.b.c=value' strings; the value takes the type of the field it replaces."""
  for item in items:
    key, sep, value = item.partition("=")
    if not sep:
      raise ValueError(f"override {item!r} is not KEY=VALUE")
    *parents, leaf = key.split(".")
    node = config
    for name in parents:
      if name not in node:
        raise KeyError(f"config has no field {'.'.join(parents)} (override {item!r})")
      node = node[name]
    if leaf not in node:
      raise KeyError(f"config has no field {key!r} (override {item!r})")
    with node.ignore_type():  # a None field may take any type; others were cast to theirs
      node[leaf] = _cast(value, node[leaf])
  return config
