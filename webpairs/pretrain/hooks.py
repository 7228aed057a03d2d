"""Hooks: what the trainer runs on the live model at chosen steps (the evals `webpairs pretrain` wires in)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from webpairs.pretrain.inference.protocol import Model

Log = Callable[[str], None]


class Hook(Protocol):
  """due: whether to run after `step` (last: the run's final step, also when a finished run is resumed);
  __call__: {metric: value} of the model at `step`, its line printed through `log` (process 0's console).

  In a multi-process run every process calls it on the same model; the metrics must agree.
  """

  def due(self, step: int, last: bool) -> bool:
    ...

  def __call__(self, step: int, last: bool, model: Model, log: Log) -> dict[str, float]:
    ...


def run_due(hooks: Sequence[Hook], step: int, last: bool, make_model: Callable[[], Model], log: Log,
            write: Callable[[int, dict[str, float]], None]) -> dict[str, float]:
  """Runs the hooks due at `step` on one model (made only when one is due), writes each one's metrics, merges them."""
  due = [hook for hook in hooks if hook.due(step, last)]
  if not due:
    return {}
  model = make_model()
  out: dict[str, float] = {}
  for hook in due:
    scores = hook(step, last, model, log)
    write(step, scores)
    out.update(scores)
  return out
