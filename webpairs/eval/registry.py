"""Evaluators built from config (`config.evals = {name: {type, every_steps, ...}}`), scheduled by step, run on a model.

The trainer's hook (webpairs.eval.hooks) is three calls:
  evaluators = registry.from_config(config.evals, data_root=DIR)   # once, at start
  for name in registry.due(evaluators, step): ...                  # which run at this step
  registry.run_all(evaluators, model, names=...)                    # {"name/metric": value}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from webpairs.eval.evaluators.aref import ARefEvaluator
from webpairs.eval.evaluators.bias import BiasEvaluator
from webpairs.eval.evaluators.linear_probe import FewShotEvaluator
from webpairs.eval.evaluators.perplexity import PerplexityEvaluator
from webpairs.eval.evaluators.retrieval import RetrievalEvaluator
from webpairs.eval.evaluators.zero_shot import CaptionZeroShotEvaluator, ZeroShotEvaluator

_log = logging.getLogger(__name__)


class Evaluator(Protocol):
  every_steps: int

  def run(self, model: Any) -> Iterable[tuple[str, float]]:
    ...


EVALUATORS: dict[str, type] = {
    "zero_shot": ZeroShotEvaluator,
    "retrieval": RetrievalEvaluator,
    "fewshot": FewShotEvaluator,
    "bias": BiasEvaluator,
    # Captioners only (CapPa, LocCa: webpairs.pretrain.inference.captioner.CaptionerModel).
    "caption_zero_shot": CaptionZeroShotEvaluator,
    "caption_perplexity": PerplexityEvaluator,
    "aref": ARefEvaluator,
}


def _plain(config: Any) -> dict[str, Any]:
  # ml_collections ConfigDicts and plain dicts alike.
  return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def build(config: Mapping[str, Any], *, data_root: str, cache: dict | None = None) -> Evaluator:
  """One evaluator from its config; its dataset is loaded (and its images checked) now, not at the first run."""
  config = _plain(config)
  kind = config.get("type")
  if kind not in EVALUATORS:
    raise ValueError(f"unknown eval type {kind!r}; known: {', '.join(EVALUATORS)}")
  return EVALUATORS[kind](config, data_root=data_root, cache=cache)


def eval_configs(evals: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
  """The entries of a config's `evals` that this registry builds: those with a `type`.

  Entries without one are not the registry's (the held-out retrieval on curated shards:
  webpairs.eval.hooks builds it).
  """
  out = {}
  for name, cfg in _plain(evals).items():
    cfg = _plain(cfg) if cfg is not None else {}
    if cfg.get("type"):
      out[name] = cfg
  return out


def from_config(evals: Mapping[str, Any], *, data_root: str, names: Sequence[str] | None = None
                ) -> dict[str, Evaluator]:
  """{name: evaluator} for the typed entries of `evals` (only `names` when given; unknown names are errors)."""
  configs = eval_configs(evals)
  if names is not None:
    unknown = [n for n in names if n not in configs]
    if unknown:
      raise KeyError(f"no eval config named {', '.join(unknown)}; known: {', '.join(configs) or 'none'}")
    configs = {n: configs[n] for n in names}
  cache: dict = {}  # evals of one dataset share its parsed metadata
  return {name: build(cfg, data_root=data_root, cache=cache) for name, cfg in configs.items()}


def due(evaluators: Mapping[str, Evaluator], step: int, *, last: bool = False) -> list[str]:
  """Names of the evaluators to run after `step`: those whose every_steps divides it, and all of them when last."""
  return [n for n, ev in evaluators.items()
          if last or (ev.every_steps > 0 and step > 0 and step % ev.every_steps == 0)]


def run_all(evaluators: Mapping[str, Evaluator], model: Any, *, names: Sequence[str] | None = None
            ) -> dict[str, float]:
  """{"<eval>/<metric>": value} plus "<eval>/seconds" for each evaluator run."""
  out: dict[str, float] = {}
  for name in (list(evaluators) if names is None else names):
    start = time.perf_counter()
    for metric, value in evaluators[name].run(model):
      out[f"{name}/{metric}"] = float(value)
    out[f"{name}/seconds"] = time.perf_counter() - start
    _log.info("eval %s took %.1fs", name, out[f"{name}/seconds"])
  return out
