"""Exponential moving average of parameters: the self-distillation teacher, outside the optimiser."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def ema_update(teacher: Any, student: Any, momentum: float | jax.Array) -> Any:
  """teacher <- m * teacher + (1 - m) * student, leaf by leaf (m = 0 copies the student, m = 1 freezes).

  The student is wrapped in stop_gradient: the teacher is a function of past students,
  never a path for gradients.
  """
  m = jnp.asarray(momentum, jnp.float32)
  return jax.tree.map(lambda t, s: (m * t + (1 - m) * jax.lax.stop_gradient(s)).astype(t.dtype), teacher, student)
