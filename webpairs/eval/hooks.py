"""The trainer's eval hooks from a pretraining config: the registry evals (config.evals' typed entries) and the
held-out retrieval on curated shards (config.evals.retrieval), run on the live model."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from webpairs.eval import registry, report
from webpairs.eval.evaluators.retrieval import RetrievalEvaluator
from webpairs.pretrain.hooks import Hook, Log
from webpairs.pretrain.inference.protocol import Model

# The held-out retrieval's metric names, as the trainer has always written them (dashboards read them).
_HELD_OUT_NAMES = {"i2t": "img2txt", "t2i": "txt2img"}


class RegistryEvals:
  """The typed entries of config.evals, each after the steps its every_steps divides and all at the end.

  workdir: where W/eval/STEP.json and the report go (None: nowhere, as on processes other than 0).
  """

  def __init__(self, evaluators: Mapping[str, registry.Evaluator], workdir: str | None):
    self.evaluators = dict(evaluators)
    self.workdir = workdir

  def due(self, step: int, last: bool) -> bool:
    return bool(registry.due(self.evaluators, step, last=last))

  def __call__(self, step: int, last: bool, model: Model, log: Log) -> dict[str, float]:
    scores = registry.run_all(self.evaluators, model, names=registry.due(self.evaluators, step, last=last))
    headline = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if not k.endswith("/seconds") and k.count("/") == 1)
    log(f"[pretrain] step {step} evals: {headline}")
    if self.workdir:
      report.write_results(self.workdir, step, scores)
    return scores


class HeldOutRetrieval:
  """Image<->text R@1 and R@5 on up to max_examples held-out curated pairs, every `every` steps (0: only at the
  end): eval's retrieval evaluator over one pool, captions the model cannot tell apart counting as the same."""

  def __init__(self, shards: str, *, every: int = 0, batch_size: int = 256, max_examples: int = 1000):
    self.every = int(every)
    self.evaluator = RetrievalEvaluator(
        dict(type="retrieval", dataset="curated", data_dir=shards, batch_size=batch_size, max_examples=max_examples,
             ks=(1, 5), by_language=False, identical_captions_match=True), data_root="")

  def due(self, step: int, last: bool) -> bool:
    return last or (self.every > 0 and step % self.every == 0)

  def __call__(self, step: int, last: bool, model: Model, log: Log) -> dict[str, float]:
    t0 = time.perf_counter()
    scores = {}
    for name, value in self.evaluator.run(model):
      if name != "languages":  # one pool
        head, _, tail = name.partition("_")
        scores[f"retrieval/{_HELD_OUT_NAMES.get(head, head)}_{tail}" if tail else f"retrieval/{name}"] = value
    scores["retrieval/seconds"] = time.perf_counter() - t0
    log(f"[pretrain] step {step} retrieval on {int(scores['retrieval/examples'])} held-out pairs: "
        f"img2txt R@1 {scores['retrieval/img2txt_r1']:.3f}, txt2img R@1 {scores['retrieval/txt2img_r1']:.3f} "
        f"(chance {scores['retrieval/chance_r1']:.4f})")
    return scores


def from_config(config: Any, *, workdir: str | None) -> list[Hook]:
  """The hooks config.evals asks for: the registry evals (they need config.eval_data_root), then the held-out
  retrieval when config.evals.retrieval.shards is set. Their datasets load now, before training starts."""
  evals = config.get("evals", {}) or {}
  hooks: list[Hook] = []
  if registry.eval_configs(evals):
    data_root = config.get("eval_data_root", "")
    if not data_root:
      raise ValueError(f"config.evals has {sorted(registry.eval_configs(evals))} but config.eval_data_root is not set")
    hooks.append(RegistryEvals(registry.from_config(evals, data_root=data_root), workdir))
  held_out = evals.get("retrieval") or {}
  if held_out.get("shards"):
    hooks.append(HeldOutRetrieval(held_out["shards"], every=int(held_out.get("every", 0) or 0),
                                  batch_size=int(held_out.get("batch_size", 256)),
                                  max_examples=int(held_out.get("max_examples", 1000))))
  return hooks
