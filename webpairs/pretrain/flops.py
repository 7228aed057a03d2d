"""Model FLOPs of a train step, counted analytically from its traced program: 2*M*N*K for every matmul and convolution.

The MFU numerator. Each tower's projections and MLPs, attention scores and values, the
MAP head, decoders and distillation heads are all matmuls, forward and backward as jax
differentiates them, so the count follows each objective without a formula per model.
Elementwise work is not counted (the usual MFU convention). XLA's cost analysis is no
substitute on GPU: cuBLAS/cuDNN custom calls are missing from it.
"""

from __future__ import annotations

import math
from typing import Any

import jax
from jax.extend import core

# Primitives whose sub-programs run `length` times (scan) or once per device of their mesh axes (shard_map).
_SCAN, _SHARD_MAP, _COND, _WHILE = "scan", "shard_map", "cond", "while"


def _size(aval: Any) -> int:
  return math.prod(aval.shape)


def dot_flops(eqn: core.JaxprEqn) -> float:
  """2 * batch * M * N * K of a dot_general (each multiply-add two FLOPs)."""
  (lhs_contract, _), _ = eqn.params["dimension_numbers"]
  lhs = eqn.invars[0].aval
  k = math.prod(lhs.shape[d] for d in lhs_contract)
  return 2.0 * _size(eqn.outvars[0].aval) * k


def conv_flops(eqn: core.JaxprEqn) -> float:
  """2 * outputs * (kernel elements per output feature); the same rule covers the weight gradient's convolution."""
  rhs = eqn.invars[1].aval
  dn = eqn.params["dimension_numbers"]
  out_features = rhs.shape[dn.rhs_spec[0]] if dn is not None else rhs.shape[0]
  return 2.0 * _size(eqn.outvars[0].aval) * _size(rhs) / out_features


# cuDNN's fused attention (jax.nn.dot_product_attention(implementation="cudnn")): one opaque primitive each way,
# counted from its operands as the matmuls it replaces, so the MFU numerator does not depend on the kernel.
_ATTENTION_FWD = frozenset({"dot_product_attention_fwd", "dot_product_attention_fwd_wrapper"})
_ATTENTION_BWD = frozenset({"dot_product_attention_bwd", "dot_product_attention_bwd_wrapper"})
_BNTH = 1  # jax's cudnn AttentionLayout.BNTH; BTNH (0) is the default


def attention_flops(eqn: core.JaxprEqn) -> float:
  """Scores (2*B*N*T*S*H) plus values (2*B*N*T*S*Hv) forward; the backward pass twice that (dQ, dK, dV, dP)."""
  q, _, v = (x.aval for x in eqn.invars[:3])
  if eqn.params.get("layout", 0) == _BNTH:
    (b, n, t, h), s, hv = q.shape, v.shape[2], v.shape[3]
  else:
    (b, t, n, h), s, hv = q.shape, v.shape[1], v.shape[3]
  forward = 2.0 * b * n * t * s * (h + hv)
  return forward if eqn.primitive.name in _ATTENTION_FWD else 2.0 * forward


# Elementwise arithmetic: one FLOP per output element, as XLA's cost analysis counts it. Transcendentals (exp,
# log, tanh, ...), data movement and dtype conversions are not FLOPs there and not here.
_ELEMENTWISE = frozenset({
    "add", "add_any", "sub", "mul", "div", "rem", "neg", "max", "min", "abs", "sign", "square", "integer_pow",
    "select_n", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "xor", "floor", "ceil", "round", "clamp",
})
_REDUCTIONS = frozenset({"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
                         "cumsum", "cumlogsumexp", "cummax", "cummin"})


def _sub_jaxprs(eqn: core.JaxprEqn) -> list[core.Jaxpr]:
  out = []
  for value in eqn.params.values():
    for v in value if isinstance(value, (tuple, list)) else (value,):
      if isinstance(v, core.ClosedJaxpr):
        out.append(v.jaxpr)
      elif isinstance(v, core.Jaxpr):
        out.append(v)
  return out


def _shard_map_devices(eqn: core.JaxprEqn) -> int:
  """How many devices run a shard_map body: the product of its manual mesh axes."""
  mesh = eqn.params.get("mesh")
  if mesh is None:
    return 1
  axes = eqn.params.get("manual_axes") or eqn.params.get("axis_names") or tuple(mesh.axis_names)
  shape = dict(mesh.shape)
  return math.prod(shape[a] for a in axes)


def jaxpr_flops(jaxpr: core.Jaxpr | core.ClosedJaxpr, elementwise: float = 1.0) -> float:
  """Matmul and convolution FLOPs of a program, sub-programs included.

  A scan body counts `length` times, a shard_map body once per device (its shapes are
  per device), a cond its costliest branch (what XLA's cost analysis counts too), a
  while body once (its trip count is not static).
  """
  if isinstance(jaxpr, core.ClosedJaxpr):
    jaxpr = jaxpr.jaxpr
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "dot_general":
      total += dot_flops(eqn)
    elif name == "conv_general_dilated":
      total += conv_flops(eqn)
    elif name in _ATTENTION_FWD or name in _ATTENTION_BWD:
      total += attention_flops(eqn)
    elif name in _ELEMENTWISE:
      total += elementwise * _size(eqn.outvars[0].aval)
    elif name in _REDUCTIONS:
      total += elementwise * _size(eqn.invars[0].aval)
    elif name == _COND:
      total += max(jaxpr_flops(b, elementwise) for b in eqn.params["branches"])
    else:
      inner = sum(jaxpr_flops(j, elementwise) for j in _sub_jaxprs(eqn))
      if name == _SCAN:
        inner *= eqn.params["length"]
      elif name == _SHARD_MAP:
        inner *= _shard_map_devices(eqn)
      total += inner
  return total


def live(jaxpr: core.Jaxpr | core.ClosedJaxpr) -> core.Jaxpr:
  """The program without work whose results are never used (XLA drops it too: e.g. a forward output jax.grad
  traces but does not need)."""
  from jax._src.interpreters import partial_eval as pe  # pylint: disable=import-outside-toplevel
  if isinstance(jaxpr, core.ClosedJaxpr):
    jaxpr = jaxpr.jaxpr
  try:
    return pe.dce_jaxpr(jaxpr, [True] * len(jaxpr.outvars))[0]
  except Exception:  # pylint: disable=broad-except  # a private API: count everything rather than fail
    return jaxpr


def step_flops(jaxpr: core.Jaxpr | core.ClosedJaxpr) -> float:
  """Model FLOPs of a traced step: jaxpr_flops of its live part."""
  return jaxpr_flops(live(jaxpr))


def traced_flops(fn: Any, *args: Any) -> float:
  """FLOPs of fn(*args) by tracing it abstractly (jitted functions keep their shardings); nothing is compiled."""
  traced = fn.trace(*args) if hasattr(fn, "trace") else None
  jaxpr = traced.jaxpr if traced is not None else jax.make_jaxpr(fn)(*args)
  return step_flops(jaxpr)
