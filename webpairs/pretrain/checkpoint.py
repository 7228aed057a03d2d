"""orbax checkpoints of the train state (params, optimizer, step, RNG) with the data iterator's position as JSON beside it."""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

STATE = "state"
DATA = "data"


class Checkpointer:
  """Saves every `every` steps (0: only when the trainer ends a run), keeps the newest `keep`.

  orbax writes each step into a temporary folder and renames it when complete, so a crash
  mid-save never leaves a checkpoint that `latest_step` would pick up.
  """

  def __init__(self, directory: str, *, every: int, keep: int):
    self.directory = directory if "://" in directory else os.path.abspath(directory)
    self.every = every
    # We decide when to save (orbax's own policy also saves the first step it sees).
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=(STATE, DATA))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def should_save(self, step: int) -> bool:
    return self.every > 0 and step % self.every == 0

  def save(self, step: int, state: Any, data_state: dict[str, Any] | None) -> None:
    """Starts an async save: arrays are copied off the devices before this returns, so the next
    step may donate their buffers; the files are written in the background."""
    self._manager.save(step, args=ocp.args.Composite(**{
        STATE: ocp.args.StandardSave(state),
        DATA: ocp.args.JsonSave(data_state or {}),
    }), force=True)

  def restore(self, step: int, abstract_state: Any = None) -> tuple[Any, dict[str, Any]]:
    """(state placed as `abstract_state`'s shardings say, or as saved when None; data iterator state)."""
    restored = self._manager.restore(step, args=ocp.args.Composite(**{
        STATE: ocp.args.StandardRestore(abstract_state),
        DATA: ocp.args.JsonRestore(),
    }))
    return restored[STATE], restored[DATA]

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def abstract_like(tree: Any, shardings: Any) -> Any:
  """ShapeDtypeStructs carrying the shardings a restored tree should land in."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)
