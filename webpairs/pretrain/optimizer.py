"""optax chains from config: gradient clipping, AdamW, Adafactor-style or SGD moments, decoupled weight decay on kernels, warm-up + decay schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

DECAYS = ("cosine", "linear", "constant")


def schedule(lr: float, total_steps: int, warmup_steps: int = 0, decay: str = "cosine",
             end_factor: float = 0.0) -> optax.Schedule:
  """Linear warm-up from 0 to lr over warmup_steps, then cosine / linear decay to lr*end_factor, or constant."""
  if decay not in DECAYS:
    raise ValueError(f"decay must be one of {DECAYS}, got {decay!r}")
  warmup_steps = min(warmup_steps, total_steps)
  rest = max(1, total_steps - warmup_steps)
  if decay == "cosine":
    after = optax.cosine_decay_schedule(lr, rest, alpha=end_factor)
  elif decay == "linear":
    after = optax.linear_schedule(lr, lr * end_factor, rest)
  else:
    after = optax.constant_schedule(lr)
  if not warmup_steps:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup_steps), after], [warmup_steps])


def kernel_mask(params: Any) -> Any:
  """True for weight matrices and conv filters ('kernel'); norms, biases, embeddings, t' and b are not decayed."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def make(config: Mapping[str, Any], total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """(optimizer, learning-rate schedule) for config keys name, lr, wd, b1, b2, grad_clip, warmup_steps, decay, mu_dtype."""
  lr = float(config["lr"])
  sched = schedule(lr, total_steps, int(config.get("warmup_steps", 0)), config.get("decay", "cosine"),
                   float(config.get("end_factor", 0.0)))
  name = config.get("name", "adamw")
  mu_dtype = config.get("mu_dtype") or None
  if name == "adamw":
    moments = optax.scale_by_adam(b1=config.get("b1", 0.9), b2=config.get("b2", 0.999),
                                  mu_dtype=jnp.dtype(mu_dtype) if mu_dtype else None)
  elif name == "sgd":  # momentum SGD: gradients pass through unscaled (for checks and baselines)
    moments = optax.trace(decay=config.get("b1", 0.9))
  elif name == "adafactor":
    # big_vision's "big_vision" optimizer: factored second moments plus first-moment momentum.
    moments = optax.chain(optax.scale_by_factored_rms(decay_rate=config.get("b2", 0.8)),
                          optax.trace(decay=config.get("b1", 0.9),
                                      accumulator_dtype=jnp.dtype(mu_dtype) if mu_dtype else None))
  else:
    raise ValueError(f"unknown optimizer {name!r}; expected adamw, adafactor or sgd")
  parts = []
  if config.get("grad_clip"):
    parts.append(optax.clip_by_global_norm(float(config["grad_clip"])))
  parts += [moments, optax.scale_by_learning_rate(sched)]
  wd = float(config.get("wd", 0.0))
  if wd:
    # Decoupled (Loshchilov & Hutter; big_vision): p -= wd * (sched(t) / lr) * p, so the
    # decay follows the schedule's shape without being multiplied by lr itself.
    parts.append(optax.add_decayed_weights(lambda count: -wd * sched(count) / lr, mask=kernel_mask))
  return optax.chain(*parts), sched
