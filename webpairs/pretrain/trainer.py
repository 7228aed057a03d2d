"""The SigLIP trainer: a functional jitted step on a device mesh, orbax checkpoints with exact resume, NaN guard, metrics."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from webpairs.formats import curated
from webpairs.pretrain import checkpoint as ckpt_lib
from webpairs.pretrain import distributed
from webpairs.pretrain import flops as flops_lib
from webpairs.pretrain import hooks as hooks_lib
from webpairs.pretrain import metrics as metrics_lib, model_factory, objectives, optimizer, sharding
from webpairs.pretrain.inference import loader as inference_loader
from webpairs.pretrain.input import pipeline
from webpairs.pretrain.input import streams as streams_lib
from webpairs.pretrain.input import regions as regions_lib
from webpairs.tokenizers import Tokenizer

_log = logging.getLogger(__name__)
# The train state's own keys; an objective's extra state (objectives.base.Objective.init_extra) sits beside them.
STATE_KEYS = ("step", "params", "opt", "rng")


class NonFiniteError(FloatingPointError):
  """The loss or the gradients of a step were NaN or infinite; nothing of that step was saved."""


class Trainer:
  """Everything a run needs, built once from the config: objective, model graph, optimizer, shardings, jitted step.

  The train state is a dict of arrays {step, params, opt, rng} plus the objective's extra
  state (SILC: teacher and centres); the model's graph definition is split off once and the
  step is a pure function of (state, batch) that donates the old state's buffers.
  """

  def __init__(self, config: ml_collections.ConfigDict, *, vocab_size: int, mesh: jax.sharding.Mesh | None = None):
    self.config = config
    self.mesh = mesh or sharding.make_mesh(config.mesh.get("data", -1))
    self.total_steps = int(config.total_steps)
    self.objective = objectives.build(config, mesh=self.mesh, axis_name=sharding.DATA)
    self._build = model_factory.model_builder(config, vocab_size)
    abstract = nnx.eval_shape(lambda: self._build(0))
    self.graphdef, _, _ = nnx.split(abstract, nnx.Param, ...)
    self.tx, self.schedule = optimizer.make(config.optax, self.total_steps)

    self.rng = jax.random.PRNGKey(config.seed)
    self.abstract_state = jax.eval_shape(self._init_state, self.rng)
    self.extra_keys = tuple(k for k in self.abstract_state if k not in STATE_KEYS)
    self.state_shardings = sharding.state_shardings(
        self.abstract_state, self.mesh, config.get("sharding", "replicate"),
        min_size=config.get("fsdp_min_size", sharding.FSDP_MIN_SIZE))
    self.batch_sharding = sharding.batch_sharding(self.mesh)
    replicated = sharding.replicated(self.mesh)
    # Non-trainable model variables (a fixed sincos position embedding): rebuilt from the
    # config, never checkpointed. XLA drops the unused parameter initialisers.
    self.consts = jax.jit(self._init_consts, out_shardings=replicated)(self.rng)
    self.step_fn = jax.jit(self._train_step, donate_argnums=(0,),
                           out_shardings=(self.state_shardings, replicated))
    self._compiled = None  # the step compiled ahead of time on the first batch
    self.flops_per_step: float | None = None  # XLA's cost analysis: a cross-check, not the MFU numerator
    self.model_flops_per_step: float | None = None  # analytic (flops.py): the MFU numerator
    self._vocab_size = vocab_size

  # Pure functions (traced under jit).

  def _split(self, rng: jax.Array) -> tuple[Any, Any]:
    _, params, rest = nnx.split(self._build(rng), nnx.Param, ...)
    return nnx.to_pure_dict(params), nnx.to_pure_dict(rest)

  def _init_state(self, rng: jax.Array) -> dict[str, Any]:
    init_rng, state_rng = jax.random.split(rng)
    params, _ = self._split(init_rng)
    extra = self.objective.init_extra(params, jax.random.fold_in(init_rng, 1))
    if set(extra) & set(STATE_KEYS):
      raise ValueError(f"the objective's extra state {sorted(extra)} must not use the keys {STATE_KEYS}")
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt": self.tx.init(params), "rng": state_rng,
            **extra}

  def _init_consts(self, rng: jax.Array) -> Any:
    return self._split(jax.random.split(rng)[0])[1]

  def _model(self, params: Any, consts: Any) -> nnx.Module:
    return nnx.merge(self.graphdef, params, consts)

  def _train_step(self, state: dict[str, Any], batch: Mapping[str, jax.Array], consts: Any
                  ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    # The state's key advances every step, so a resumed run draws what an unbroken one would.
    n = self.objective.num_keys
    keys = jax.random.split(state["rng"], 1 + n)
    rng, step_rng = keys[0], keys[1] if n == 1 else keys[1:]
    extra = {k: state[k] for k in self.extra_keys}

    model_of = lambda params: self._model(params, consts)
    loss, metrics, grads, pending = self.objective.loss_and_grads(model_of, state["params"], batch, step_rng, extra,
                                                                  state["step"])
    updates, opt = self.tx.update(grads, state["opt"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    extra = self.objective.update_extra(extra, params, state["step"], pending)
    grad_norm = optax.tree.norm(grads)
    out = {
        "loss": loss,
        "grad_norm": grad_norm,
        "param_norm": optax.tree.norm(params),
        **metrics,  # the objective's own: t and b of the two towers, SILC's losses and monitors, ...
        "lr": self.schedule(state["step"]),
        "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm),
    }
    return {"step": state["step"] + 1, "params": params, "opt": opt, "rng": rng, **extra}, out

  # Host-side helpers.

  def init_state(self) -> dict[str, Any]:
    return jax.jit(self._init_state, out_shardings=self.state_shardings)(self.rng)

  def abstract_with_shardings(self) -> Any:
    return ckpt_lib.abstract_like(self.abstract_state, self.state_shardings)

  def compile(self, state: dict[str, Any], batch: Mapping[str, jax.Array]) -> None:
    """Compiles the step for these shapes ahead of time (step() does it on its first call) and counts its FLOPs.

    XLA's cost analysis (FLOPs per device, times the devices: per step) comes from the very
    executable that runs; on GPU it misses the cuBLAS/cuDNN custom calls, so it is kept only
    where it means something. The MFU numerator is the analytic count.
    """
    traced = self.step_fn.trace(state, batch, self.consts)
    self.model_flops_per_step = self.count_model_flops(state, batch, traced)
    self._compiled = traced.lower().compile()
    per_device = metrics_lib.compiled_flops(self._compiled) if metrics_lib.xla_flops_meaningful() else None
    self.flops_per_step = per_device * self.mesh.size if per_device else None

  def step(self, state: dict[str, Any], batch: Mapping[str, jax.Array]) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    if self._compiled is None:
      self.compile(state, batch)
    return self._compiled(state, batch, self.consts)

  def count_model_flops(self, state: Any, batch: Mapping[str, Any], traced: Any = None) -> float:
    """Model FLOPs of one step (all devices): matmuls forward and backward, without remat's recomputation.

    With remat the program is traced once more from a model built without it (same
    parameters), so recomputed forwards do not count as model work.
    """
    if traced is not None and not self.config.model.get("remat", False):
      return flops_lib.step_flops(traced.jaxpr)
    plain = ml_collections.ConfigDict(self.config.to_dict())
    plain.model.remat = False
    graphdef = self.graphdef
    try:
      self.graphdef = nnx.split(nnx.eval_shape(lambda: model_factory.model_builder(plain, self._vocab_size)(0)),
                                nnx.Param, ...)[0]
      # A fresh function: jax caches traces by function, and the bound method's would be the remat one.
      step = lambda s, b, c: self._train_step(s, b, c)  # pylint: disable=unnecessary-lambda
      return flops_lib.step_flops(jax.make_jaxpr(step)(state, batch, self.consts))
    finally:
      self.graphdef = graphdef

  def num_params(self) -> int:
    return sum(x.size for x in jax.tree.leaves(self.abstract_state["params"]))


def _check_config(config: ml_collections.ConfigDict) -> None:
  if not config.input.shards:
    raise ValueError("config.input.shards is empty: give the curated shards (--config.input.shards=GLOB)")
  if not config.input.tokenizer:
    raise ValueError("config.input.tokenizer is empty: give a SentencePiece model (--config.input.tokenizer=PATH)")
  if config.total_steps < 1:
    raise ValueError(f"total_steps must be >= 1, got {config.total_steps}")
  objectives.check(config)
  if objectives.objective_class(config.loss["name"]).needs_regions and not config.input.get("regions", False):
    raise ValueError(f"the {config.loss['name']} loss reads region annotations: set config.input.regions=True")


def _write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  path = os.path.join(workdir, ckpt_lib.CONFIG_FILE)
  text = json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      if f.read() != text:
        _log.warning("%s differs from the config of the earlier run in this workdir; the new one is kept", path)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def _per_stream_batch(global_batch: int, mesh: jax.sharding.Mesh, streams: int) -> int:
  if global_batch % mesh.size:
    raise ValueError(f"batch size {global_batch} does not split over {mesh.size} devices")
  if global_batch % streams:
    raise ValueError(f"batch size {global_batch} does not split over {streams} input streams")
  return global_batch // streams


def train(config: ml_collections.ConfigDict, workdir: str, *, hooks: Sequence[hooks_lib.Hook] = (),
          stop_at_step: int | None = None) -> dict[str, float]:
  """Trains (or resumes from the newest checkpoint in workdir) to config.total_steps; returns the final metrics.

  hooks: run on the live model after the steps each asks for and at the end (webpairs.eval.hooks
  builds the configured evals); their metrics are written and the final ones returned.
  stop_at_step: end this invocation after that step with a checkpoint, keeping the
  schedule of total_steps (how a job with a time limit splits a run); the next call resumes.
  """
  _check_config(config)
  # Every process must train the same config on the same shard list, or the collectives mix two runs.
  distributed.check_agree("config", json.dumps(config.to_dict(), sort_keys=True, default=str))
  distributed.check_agree("shard list", "\n".join(curated.expand(config.input.shards)))
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    _write_config(config, workdir)
  tokenizer = Tokenizer.load(config.input.tokenizer)
  trainer = Trainer(config, vocab_size=tokenizer.vocab_size)
  writer = metrics_lib.MetricWriter(workdir)
  checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, ckpt_lib.CHECKPOINT_DIR), every=config.ckpt_every,
                                       keep=config.keep_ckpts)
  inp = config.input
  regions = bool(inp.get("regions", False))  # LocCa: region annotations -> aref/gcap batch fields
  num_streams = streams_lib.stream_count(inp.get("streams", 0), jax.process_count())
  stream_batch = _per_stream_batch(inp.batch_size, trainer.mesh, num_streams)
  sources: list[Any] = []

  def make_stream(s: int) -> Any:
    source = pipeline.make_source(inp.shards, s, num_streams, regions=regions)
    sources.append(source)
    return pipeline.make_dataset(
        source, batch_size=stream_batch, image_size=inp.res, max_len=inp.max_len,
        tokenizer=tokenizer, seed=inp.seed, augment=inp.augment, min_area=inp.min_area, lower=inp.lower,
        num_workers=inp.num_workers, regions=regions_lib.options_from_config(config) if regions else None)

  data = streams_lib.StreamIterator(make_stream, trainer.batch_sharding, num_streams)

  # The newest checkpoint that restores whole: a truncated or corrupted one is reported and skipped.
  start, state, data_state = checkpointer.restore_latest(trainer.abstract_with_shardings(), report=writer.print)
  if start:
    data.set_state(data_state)
    writer.print(f"[pretrain] resumed from step {start} in {checkpointer.directory}")
  else:
    state = trainer.init_state()
  end = trainer.total_steps if stop_at_step is None else min(trainer.total_steps, stop_at_step)
  procs = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
  writer.print(f"[pretrain] {trainer.num_params():,} parameters | {trainer.mesh.size} device(s){procs} "
               f"({jax.devices()[0].device_kind}) | {sum(map(len, sources)):,} training examples on process 0 | "
               f"batch {inp.batch_size} | steps {start}->{end} of {trainer.total_steps}")

  final: dict[str, float] = {}
  try:
    final = _loop(trainer, state, data, start, end, config, writer, checkpointer, hooks=hooks, tokenizer=tokenizer)
  finally:
    data.close()
    checkpointer.wait()
    checkpointer.close()
    writer.close()
  return final


def _loop(trainer: Trainer, state: dict[str, Any], data: streams_lib.StreamIterator, start: int, end: int,
          config: ml_collections.ConfigDict, writer: metrics_lib.MetricWriter, checkpointer: ckpt_lib.Checkpointer,
          *, hooks: Sequence[hooks_lib.Hook], tokenizer: Tokenizer) -> dict[str, float]:
  batch_size = config.input.batch_size
  peak = metrics_lib.peak_flops()
  final: dict[str, float] = {"step": float(start)}
  pending: list[tuple[int, dict[str, jax.Array]]] = []  # dispatched steps not yet checked for NaN

  def check(upto: int) -> None:
    # Reading a step's flag waits for that step; keeping one step in flight between
    # checks lets the host prepare the next batch while the device computes.
    while pending and pending[0][0] <= upto:
      step, m = pending.pop(0)
      if not bool(m["finite"]):
        last = checkpointer.latest_step()
        raise NonFiniteError(
            f"step {step}: loss or gradients are not finite (loss={float(m['loss'])}, "
            f"grad_norm={float(m['grad_norm'])}); stopped without saving this step. "
            f"Last good checkpoint: {'step ' + str(last) if last else 'none'} in {checkpointer.directory}")

  def run_hooks(step: int, last: bool) -> dict[str, float]:
    make_model = lambda: inference_loader.from_params(config, trainer.graphdef, state["params"], trainer.consts,
                                                      tokenizer)
    return hooks_lib.run_due(hooks, step, last, make_model, writer.print, writer.write)

  last_time, last_step = time.perf_counter(), start
  waited = 0.0  # seconds spent waiting for the next batch since last_time: an input-bound run shows it
  for step in range(start + 1, end + 1):
    t_wait = time.perf_counter()
    batch = next(data)
    waited += time.perf_counter() - t_wait
    state, m = trainer.step(state, batch)
    if step == start + 1:  # the first step compiled: time from here
      jax.block_until_ready(m)
      last_time, last_step, waited = time.perf_counter(), step, 0.0
    pending.append((step, m))
    check(step - 1)

    if step % config.log_every == 0 or step == end:
      check(step)
      host = {k: float(v) for k, v in jax.device_get(m).items() if k != "finite"}
      now = time.perf_counter()
      if step > last_step:  # no timing for an interval holding only the compiling step
        step_time = (now - last_time) / (step - last_step)
        host.update(step_time_s=step_time, examples_per_s=batch_size / step_time,
                    input_wait_frac=min(1.0, waited / (now - last_time)))
        mfu = metrics_lib.mfu(trainer.model_flops_per_step, step_time, trainer.mesh.size, peak)
        if mfu is not None:
          host["mfu"] = mfu
      last_time, last_step, waited = now, step, 0.0
      if trainer.model_flops_per_step:
        host["model_flops_per_step"] = trainer.model_flops_per_step
      if trainer.flops_per_step:  # XLA's count, a cross-check (not on GPU)
        host["gflops_per_step"] = trainer.flops_per_step / 1e9
      writer.write(step, host)
      eta = (trainer.total_steps - step) * host.get("step_time_s", float("nan"))
      writer.print("[pretrain] " + metrics_lib.progress_line(step, trainer.total_steps, host, eta))
      final.update(host)

    paused = time.perf_counter()
    if step != end:
      run_hooks(step, last=False)
    if step == end or checkpointer.should_save(step):
      check(step)  # never write a checkpoint of a broken step
      checkpointer.save(step, state, data.get_state())
    last_time += time.perf_counter() - paused  # evals and saves are not training throughput
    final["step"] = float(step)

  final.update(run_hooks(end, last=True))
  return final
