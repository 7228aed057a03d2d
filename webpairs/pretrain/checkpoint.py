"""orbax checkpoints of the train state (params, optimizer, step, RNG) with the data iterator's position as JSON beside it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from etils import epath

# A `webpairs pretrain` workdir: the run's config and its checkpoints folder.
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
STATE = "state"
DATA = "data"
# Key in the data item holding the state's checksums: orbax restores flipped bytes silently.
CHECKSUMS = "_state_checksums"
CORRUPT_SUFFIX = ".corrupt"


class CorruptCheckpointError(ValueError):
  """A checkpoint whose restored arrays do not match the checksums saved with them."""


@jax.jit
def state_checksums(state: Any) -> jax.Array:
  """One uint32 per leaf: the sum of its bit patterns weighted by position, modulo 2**32.

  Integer sums wrap and do not depend on reduction order or sharding, so the same state
  gives the same numbers on any mesh; a flipped byte or a swapped block changes them.
  """
  def leaf(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    x = x.astype(jnp.uint8) if x.dtype == jnp.bool_ else x
    unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]  # 8: two words each
    bits = jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32).ravel()
    weights = jnp.arange(bits.size, dtype=jnp.uint32) * jnp.uint32(2654435761) + jnp.uint32(1)
    return jnp.sum(bits * weights, dtype=jnp.uint32)
  return jnp.stack([leaf(x) for x in jax.tree.leaves(state)] or [jnp.uint32(0)])


class Checkpointer:
  """Saves every `every` steps (0: only when the trainer ends a run), keeps the newest `keep`.

  orbax writes each step into a temporary folder and renames it when complete, so a crash
  mid-save never leaves a checkpoint that `latest_step` would pick up.
  """

  def __init__(self, directory: str, *, every: int, keep: int):
    self.directory = directory if "://" in directory else os.path.abspath(directory)
    self.every = every
    # We decide when to save (orbax's own policy also saves the first step it sees).
    # A save killed mid-write leaves a temporary folder: removed on the next start.
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True)
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
    data = {**(data_state or {}), CHECKSUMS: [int(c) for c in jax.device_get(state_checksums(state))]}
    self._manager.save(step, args=ocp.args.Composite(**{
        STATE: ocp.args.StandardSave(state),
        DATA: ocp.args.JsonSave(data),
    }), force=True)

  def restore(self, step: int, abstract_state: Any = None) -> tuple[Any, dict[str, Any]]:
    """(state placed as `abstract_state`'s shardings say, or as saved when None; data iterator state).

    Raises CorruptCheckpointError when the arrays differ from the checksums saved with them.
    """
    restored = self._manager.restore(step, args=ocp.args.Composite(**{
        STATE: ocp.args.StandardRestore(abstract_state),
        DATA: ocp.args.JsonRestore(),
    }))
    data = dict(restored[DATA] or {})
    expected = data.pop(CHECKSUMS, None)
    if expected is not None:  # checkpoints from before checksums are trusted as they are
      found = [int(c) for c in jax.device_get(state_checksums(restored[STATE]))]
      if found != expected:
        bad = sum(a != b for a, b in zip(found, expected)) + abs(len(found) - len(expected))
        raise CorruptCheckpointError(f"{bad} of {len(expected)} arrays differ from their saved checksums")
    return restored[STATE], data

  def restore_params(self, step: int, abstract_params: Any) -> Any:
    """The `params` subtree of the state at `step` alone, placed as `abstract_params`' shardings say: the
    optimizer state and the rest are not read. Checked against the saved checksums of those arrays."""
    path = epath.Path(self.directory) / str(step) / STATE
    item = {"params": abstract_params}
    # The item's handler alone: the manager would want the whole state's handler, and a Checkpointer
    # warns about the step metadata it does not need.
    handler = ocp.PyTreeCheckpointHandler()
    try:
      params = handler.restore(path, args=ocp.args.PyTreeRestore(
          item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item), partial_restore=True))["params"]
      saved = handler.metadata(path).tree
    finally:
      handler.close()
    data = self._manager.restore(step, args=ocp.args.Composite(**{DATA: ocp.args.JsonRestore()}))[DATA] or {}
    expected = data.get(CHECKSUMS)
    if expected is not None:
      # The state's leaves are checksummed in tree order (sorted keys): params' follow the keys before it.
      offset = sum(len(jax.tree.leaves(saved[k])) for k in sorted(saved) if k < "params")
      found = [int(c) for c in jax.device_get(state_checksums(params))]
      if found != expected[offset:offset + len(found)]:
        raise CorruptCheckpointError(f"the parameters of step {step} differ from their saved checksums")
    return params

  def restore_latest(self, abstract_state: Any = None, report: Callable[[str], None] = print
                     ) -> tuple[int, Any, dict[str, Any] | None]:
    """(step, state, data state) of the newest checkpoint that restores whole; (0, None, None) without any.

    A truncated or corrupted newest checkpoint is reported, renamed to STEP.corrupt (kept
    for a look; ignored from then on, so the run saves that step again) and the previous
    one is used. When none restores, nothing is renamed and the newest one's error is
    raised: that is a changed model or config, not a broken file.
    """
    failed: list[tuple[int, Exception]] = []
    for step in sorted(self.all_steps(), reverse=True):
      try:
        state, data = self.restore(step, abstract_state)
      except Exception as e:  # pylint: disable=broad-except
        failed.append((step, e))
        continue
      for bad, e in failed:
        moved = self._set_aside(bad)
        first_line = (str(e).splitlines() or [""])[0][:200]
        report(f"[pretrain] checkpoint step {bad} in {self.directory} is unreadable ({type(e).__name__}: "
               f"{first_line}); moved to {moved}; falling back to step {step}")
      return step, state, data
    if failed:
      steps = ", ".join(str(s) for s, _ in failed)
      raise RuntimeError(f"no checkpoint in {self.directory} restores (steps {steps}); the newest fails with "
                         f"{type(failed[0][1]).__name__}: {failed[0][1]}") from failed[0][1]
    return 0, None, None

  def _set_aside(self, step: int) -> str:
    path = epath.Path(self.directory) / str(step)
    target = epath.Path(self.directory) / f"{step}{CORRUPT_SUFFIX}"
    if target.exists():
      target = epath.Path(self.directory) / f"{step}{CORRUPT_SUFFIX}.{int(time.time())}"
    if jax.process_index() == 0:  # one host renames; the others found the same damage
      path.rename(target)
    self._manager.reload()
    return str(target)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def abstract_like(tree: Any, shardings: Any) -> Any:
  """ShapeDtypeStructs carrying the shardings a restored tree should land in."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)
