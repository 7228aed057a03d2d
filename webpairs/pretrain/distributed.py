"""Multi-host start-up: jax.distributed from flags, WEBPAIRS_* variables or the cluster JAX detects; a watchdog for lost processes."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import jax
import numpy as np

_log = logging.getLogger(__name__)

# The same settings as environment variables (flags win), for launchers that set variables per task.
ENV_COORDINATOR = "WEBPAIRS_COORDINATOR"
ENV_NUM_PROCESSES = "WEBPAIRS_NUM_PROCESSES"
ENV_PROCESS_ID = "WEBPAIRS_PROCESS_ID"
ENV_LOCAL_DEVICE_IDS = "WEBPAIRS_LOCAL_DEVICE_IDS"
# A process missing this long is reported lost by the others (JAX's own heartbeat check, which
# aborts with a terser message, is set to twice this, so ours speaks first).
ENV_LOST_AFTER = "WEBPAIRS_LOST_AFTER_S"
DEFAULT_LOST_AFTER_S = 60.0
EXIT_LOST = 75  # a peer process was lost: the run stopped; restart every process to resume
_KEY_ALIVE = "webpairs/alive/"
_KEY_DONE = "webpairs/done/"


@dataclasses.dataclass(frozen=True)
class Setup:
  """How this process joined the run (or that it runs alone)."""
  how: str  # "single" | "flags" | the name of the cluster JAX detected
  process_id: int = 0
  num_processes: int = 1
  coordinator: str | None = None

  def describe(self) -> str:
    if self.how == "single":
      return "single process"
    return (f"process {self.process_id} of {self.num_processes} (coordinator {self.coordinator}, "
            f"{'flags/environment' if self.how == 'flags' else 'detected ' + self.how})")


def detect_cluster() -> str | None:
  """The cluster JAX's own auto-detection would use (SLURM, Open MPI, Cloud TPU, GKE, Kubernetes), or None.

  Asked first because jax.distributed.initialize() without arguments fails outside a cluster;
  the opt-in methods (mpi4py) are skipped as JAX skips them.
  """
  try:
    from jax._src import clusters  # pylint: disable=g-import-not-at-top  # no public registry of cluster types
  except ImportError:
    return None
  for env in getattr(clusters.ClusterEnv, "_cluster_types", []):
    if getattr(env, "opt_in_only_method", False):
      continue
    try:
      if env.is_env_present():
        return env.__name__
    except Exception:  # pylint: disable=broad-except  # a probe that cannot run means: not this cluster
      continue
  return None


def _int(value: int | str | None, name: str) -> int | None:
  if value is None or value == "":
    return None
  try:
    return int(value)
  except ValueError:
    raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _resolve(coordinator: str | None, num_processes: int | None, process_id: int | None,
             local_device_ids: str | Sequence[int] | None) -> tuple[str | None, int | None, int | None, list[int] | None]:
  coordinator = coordinator or os.environ.get(ENV_COORDINATOR) or None
  num_processes = _int(num_processes if num_processes is not None else os.environ.get(ENV_NUM_PROCESSES),
                       f"--num-processes / {ENV_NUM_PROCESSES}")
  process_id = _int(process_id if process_id is not None else os.environ.get(ENV_PROCESS_ID),
                    f"--process-id / {ENV_PROCESS_ID}")
  ids = local_device_ids if local_device_ids is not None else os.environ.get(ENV_LOCAL_DEVICE_IDS)
  if isinstance(ids, str):
    ids = [int(x) for x in ids.split(",") if x.strip()] or None
  return coordinator, num_processes, process_id, (list(ids) if ids else None)


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None, *,
               local_device_ids: str | Sequence[int] | None = None, lost_after_s: float | None = None,
               initialization_timeout_s: int = 300) -> Setup:
  """Joins this process to a multi-process run, before any JAX computation; returns how.

  With a coordinator (HOST:PORT), a process count and this process's id (flags or
  WEBPAIRS_* variables): jax.distributed with them. Without any: JAX's detection when a
  cluster it knows is present (TPU pod slice, SLURM, GKE), else one process. On CPUs the
  processes exchange collectives over gloo. A watchdog then reports a lost peer and exits.
  """
  coordinator, num_processes, process_id, device_ids = _resolve(coordinator, num_processes, process_id,
                                                                local_device_ids)
  lost_after = float(lost_after_s if lost_after_s is not None else os.environ.get(ENV_LOST_AFTER, DEFAULT_LOST_AFTER_S))
  given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
  if jax.distributed.is_initialized():
    return _joined("already initialized", lost_after)
  if any(v is not None for v in given.values()):
    missing = [k for k, v in given.items() if v is None]
    if num_processes == 1 and process_id in (None, 0):
      return Setup("single")
    if missing:
      raise ValueError(f"multi-process start-up needs --coordinator, --num-processes and --process-id "
                       f"(or {ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}); missing: {', '.join(missing)}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
      raise ValueError(f"--process-id must be in [0, {num_processes}), got {process_id}")
    if ":" not in coordinator:
      raise ValueError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    how = "flags"
  else:
    how = detect_cluster()
    if how is None:
      return Setup("single")
  _before_backends()
  jax.distributed.initialize(coordinator, num_processes, process_id, local_device_ids=device_ids,
                             initialization_timeout=initialization_timeout_s,
                             heartbeat_timeout_seconds=max(10, int(2 * lost_after)))
  return _joined(how, lost_after)


def _before_backends() -> None:
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  if xla_bridge.backends_are_initialized():
    raise RuntimeError("multi-process start-up must come before any JAX computation in this process")
  # CPU devices of several processes need a collectives transport; GPUs/TPUs have their own.
  if jax.config.jax_cpu_collectives_implementation in (None, "", "none"):
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


def _joined(how: str, lost_after: float) -> Setup:
  from jax._src import distributed as jax_distributed  # pylint: disable=g-import-not-at-top
  state = jax_distributed.global_state
  setup = Setup(how, state.process_id, state.num_processes, state.coordinator_address)
  if setup.num_processes > 1 and state.client is not None and not _watchdogs:
    Watchdog(state.client, setup.process_id, setup.num_processes, lost_after).start()
  return setup


class Watchdog(threading.Thread):
  """Every process posts a heartbeat to the coordinator's key-value store and watches the others'.

  A peer whose heartbeat stops for `lost_after` seconds (killed, hung, its host gone) is
  named on stderr and this process exits with EXIT_LOST: without it the survivors wait in
  their next collective until JAX's own timeout. A lost coordinator (process 0) is
  reported the same way when the store stops answering. A process that ends normally
  says so first (`finished`), so the others do not take it for lost.
  """

  def __init__(self, client, process_id: int, num_processes: int, lost_after: float):
    super().__init__(name="webpairs-watchdog", daemon=True)
    self.client, self.process_id, self.num_processes = client, process_id, num_processes
    self.lost_after = lost_after
    self.interval = max(0.2, min(5.0, lost_after / 6))
    self._stop = threading.Event()
    _watchdogs.append(self)

  def run(self) -> None:
    beat = 0
    seen: dict[int, tuple[str, float]] = {}
    started = time.monotonic()
    while not self._stop.wait(0 if beat == 0 else self.interval):
      beat += 1
      now = time.monotonic()
      try:
        self.client.key_value_set(f"{_KEY_ALIVE}{self.process_id}", str(beat), allow_overwrite=True)
        alive = dict(self.client.key_value_dir_get(_KEY_ALIVE))
        done = {k.rsplit("/", 1)[-1] for k, _ in self.client.key_value_dir_get(_KEY_DONE)}
      except Exception as e:  # pylint: disable=broad-except  # the coordinator's store is gone
        if self._stop.is_set():
          return
        self._lost(0, f"the coordinator (process 0) stopped answering ({type(e).__name__}: {str(e)[:200]})")
        return
      for peer in range(self.num_processes):
        if peer == self.process_id or str(peer) in done:
          continue
        value = alive.get(f"{_KEY_ALIVE}{peer}")
        if value is not None and (peer not in seen or seen[peer][0] != value):
          seen[peer] = (value, now)
        last = seen[peer][1] if peer in seen else started
        if now - last > self.lost_after:
          self._lost(peer, f"no heartbeat for {now - last:.0f} s")
          return

  def _lost(self, peer: int, why: str) -> None:
    print(f"webpairs pretrain: error: lost process {peer} of {self.num_processes} ({why}); process "
          f"{self.process_id} stops. Restart every process to resume from the last checkpoint.",
          file=sys.stderr, flush=True)
    os._exit(EXIT_LOST)  # pylint: disable=protected-access  # the main thread may be stuck in a collective

  def failed(self) -> None:
    """This process's run raised: a lost peer (a collective broke) is named within `lost_after`
    (the process exits); otherwise stop beating, so the others name this process."""
    self.join(self.lost_after + 3 * self.interval)
    self._stop.set()

  def finish(self, done: bool = True) -> None:
    self._stop.set()
    if not done:
      return
    try:
      self.client.key_value_set(f"{_KEY_DONE}{self.process_id}", "1", allow_overwrite=True)
    except Exception:  # pylint: disable=broad-except  # the run is over either way
      pass


_watchdogs: list[Watchdog] = []


def failed() -> None:
  """The run raised in this process (a broken collective, a bad file): name a lost peer if there is one."""
  while _watchdogs:
    _watchdogs.pop().failed()


def finish(done: bool = True) -> None:
  """This process ends: stop watching; done: it ended the run normally, the others must not take it for lost
  (otherwise, after an error of its own, they name it lost unless they stop for the same error)."""
  while _watchdogs:
    _watchdogs.pop().finish(done)


def check_agree(what: str, text: str) -> None:
  """Raises ValueError on every process when the processes hold different `text` (config, shard list)."""
  if jax.process_count() == 1:
    return
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  digest = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest()[:8], np.int64)
  every = np.asarray(multihost_utils.process_allgather(digest)).reshape(-1)
  if (every != every[0]).any():
    groups: dict[int, list[int]] = {}
    for p, d in enumerate(every.tolist()):
      groups.setdefault(d, []).append(p)
    parts = "; ".join(f"processes {ps}" for ps in groups.values())
    raise ValueError(f"the processes disagree on the {what}: {parts} each hold a different one; "
                     "start every process with the same command line and data")


def to_host(x: jax.Array | np.ndarray) -> np.ndarray:
  """x's whole (global) value as numpy on every process: gathered from every process's devices where x is not
  all on this one (a multi-process mesh; every process must call it), a plain copy where it is."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(jax.device_get(x))
