"""Built-in eval configs by name, and suites (named lists of them), for `webpairs eval --evals` and trainer configs;
`webpairs eval --config.NAME.KEY=VALUE` overrides go through the one config loader (override()).

data_dir is relative to the data root: <root>/dollarstreet, <root>/geode, <root>/gldv2,
<root>/xm3600, <root>/marvl, <root>/synthetic (the set `webpairs eval --write-synthetic` makes).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ml_collections

from webpairs.configs import loader

# The synthetic set (`webpairs sample --eval-set`, written by webpairs.demo.synthetic): the class is the main
# shape's colour, named with every shape. Spelled out here, not imported, so eval never imports the demo package;
# tests/demo/test_synthetic.py checks they match what the demo draws.
_SYNTHETIC_TEMPLATES = ["This is a simple drawing of a {}.", "An illustration with a {} in front of a background."]
_SYNTHETIC_SHAPES = ("circle", "square", "triangle", "star", "ellipse", "rectangle", "diamond", "hexagon")
_SYNTHETIC_ALIASES = {c: [f"{c} {s}" for s in _SYNTHETIC_SHAPES] for c in ("red", "blue", "green", "yellow", "purple")}

_GEO = dict(type="fewshot", targets=["country", "region"], shots=[5, 10, 25], seeds=3)

EVALS: dict[str, dict[str, Any]] = {
    # Cultural diversity (SigLIP 2 / WebLI-100B): zero-shot with disparity over income and region.
    "dollarstreet": dict(type="zero_shot", dataset="dollarstreet", groups=["income", "region"]),
    "geode": dict(type="zero_shot", dataset="geode", groups=["region"]),
    "gldv2": dict(type="zero_shot", dataset="gldv2", templates=["a photo of {}."]),
    # Geo-localization: 10-shot ridge probes on frozen image embeddings.
    "dollarstreet_geo": dict(_GEO, dataset="dollarstreet"),
    "geode_geo": dict(_GEO, dataset="geode"),
    # Multilingual.
    "xm3600": dict(type="retrieval", dataset="xm3600"),
    "marvl": dict(type="zero_shot", dataset="marvl", templates=["{}"], groups=["language"]),
    # The synthetic set: every kind of eval, on data a model trained on `webpairs sample` can learn.
    "synthetic_zeroshot": dict(type="zero_shot", dataset="dollarstreet", data_dir="synthetic",
                               templates=list(_SYNTHETIC_TEMPLATES), aliases=copy.deepcopy(_SYNTHETIC_ALIASES),
                               groups=["income", "region", "country"]),
    "synthetic_retrieval": dict(type="retrieval", dataset="xm3600", data_dir="synthetic"),
    "synthetic_geo": dict(type="fewshot", dataset="dollarstreet", data_dir="synthetic", targets=["country", "region"],
                          shots=[5, 10], seeds=3),
    # Captioners (CapPa, LocCa) on the synthetic set: class prompts scored by log-likelihood, caption perplexity.
    "synthetic_caption_zeroshot": dict(type="caption_zero_shot", dataset="dollarstreet", data_dir="synthetic",
                                       templates=list(_SYNTHETIC_TEMPLATES), aliases=copy.deepcopy(_SYNTHETIC_ALIASES),
                                       groups=["income", "region", "country"]),
    "synthetic_perplexity": dict(type="caption_perplexity", dataset="xm3600", data_dir="synthetic"),
}

SUITES: dict[str, tuple[str, ...]] = {
    "cultural": ("dollarstreet", "geode", "gldv2", "dollarstreet_geo", "geode_geo"),
    "multilingual": ("xm3600", "marvl"),
    "synthetic": ("synthetic_zeroshot", "synthetic_retrieval", "synthetic_geo"),
    "synthetic_captioner": ("synthetic_caption_zeroshot", "synthetic_perplexity"),
}


def resolve(names: Sequence[str], extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
  """{name: config} for eval names and suite names; `extra` (a run's own config.evals) wins over built-ins."""
  table = {**copy.deepcopy(EVALS), **{k: dict(v) for k, v in (extra or {}).items()}}
  out: dict[str, dict[str, Any]] = {}
  for name in names:
    members = SUITES.get(name, (name,))
    for member in members:
      if member not in table:
        raise KeyError(f"unknown eval {member!r}; evals: {', '.join(sorted(table))}; "
                       f"suites: {', '.join(sorted(SUITES))}")
      out[member] = table[member]
  return out


# The types of keys an entry may leave unset (what their evaluators cast them to), so that an override of an
# unset key is typed as one of a set key is ('1e3' an int 1000); other unset keys read the text as a literal.
UNSET_TYPES: dict[str, type] = {
    **dict.fromkeys(("type", "dataset", "data_dir", "target", "style", "reduce", "occupation_template"), str),
    **dict.fromkeys(("every_steps", "batch_size", "max_examples", "seed", "seeds", "bins", "beam_size",
                     "max_new_tokens"), int),
    **dict.fromkeys(("length_penalty", "iou_threshold", "bias_const", "l2_reg"), float),
    **dict.fromkeys(("templates", "groups", "targets", "shots", "ks"), list),
}


def keys(kind: str) -> tuple[str, ...]:
  """The keys an eval of type `kind` reads: the common ones and its evaluator's own."""
  # Imported here: the pretrain configs import this module, and the evaluators need not load for them.
  from webpairs.eval import registry  # pylint: disable=import-outside-toplevel
  from webpairs.eval.evaluators import common  # pylint: disable=import-outside-toplevel
  if kind not in registry.EVALUATORS:
    raise loader.ConfigError(f"unknown eval type {kind!r}; known: {', '.join(registry.EVALUATORS)}")
  cls = registry.EVALUATORS[kind]
  own = getattr(cls, "own_keys", None)
  if own is None:
    own = sys.modules[cls.__module__].OWN_KEYS
  return tuple(common.COMMON_KEYS) + tuple(k for k in own if k not in common.COMMON_KEYS)


def override(configs: Mapping[str, Mapping[str, Any]], assignments: Iterable[str]) -> dict[str, dict[str, Any]]:
  """`configs` ({name: config}) with `NAME.KEY=VALUE` assignments applied by the loader, typed as every config's.

  KEY may be any key its type reads (keys(type)), set or not; a key or eval name that is not there is an
  UnknownKeyError naming the close matches. Keys that were not set stay unset.
  """
  assignments = list(assignments)
  out = {name: dict(cfg) for name, cfg in configs.items()}
  for assignment in assignments:
    if "." not in assignment.partition("=")[0]:
      raise loader.ConfigError(f"eval config override {assignment!r} is not NAME.KEY=VALUE")
  if not assignments:
    return out
  table = ml_collections.ConfigDict()
  for name, cfg in out.items():
    unset = {k: ml_collections.config_dict.placeholder(UNSET_TYPES[k]) if k in UNSET_TYPES else None
             for k in keys(cfg.get("type")) if k not in cfg}
    table[name] = ml_collections.ConfigDict({**unset, **cfg})
  loader.apply_overrides(table, assignments)
  for assignment in assignments:
    name, key = assignment.partition("=")[0].split(".")[:2]
    value = table[name][key]
    out[name][key] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
  return out
