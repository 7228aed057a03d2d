"""SigLIP's sigmoid loss three ways: dense, ring over devices (shard_map + ppermute), and row-chunked; and the
two towers' objective built on one of them.

L = -(1/|B|) sum_i sum_j log sigmoid(z_ij (t x_i.y_j + b)), z_ij = 1 on the diagonal and
-1 elsewhere, with x and y L2-normalised and t the temperature itself (not its log). All
three return the same mean over the global batch; the maths runs in fp32.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from webpairs.pretrain.objectives.base import LossObjective


def _f32(*xs: jax.Array) -> tuple[jax.Array, ...]:
  return tuple(jnp.asarray(x, jnp.float32) for x in xs)


def _block_sum(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array, row0: jax.Array | int,
               col0: jax.Array | int) -> jax.Array:
  """sum over a [rows, cols] block of -log sigmoid(z * logits); global row/col ids start at row0/col0."""
  logits = t * (zimg @ ztxt.T) + b
  rows = row0 + jnp.arange(zimg.shape[0])[:, None]
  cols = col0 + jnp.arange(ztxt.shape[0])[None, :]
  labels = jnp.where(rows == cols, 1.0, -1.0)
  return -jnp.sum(jax.nn.log_sigmoid(labels * logits))


def _negative_block_sum(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array) -> jax.Array:
  """A block with no matching pairs (another device's texts): every label is -1."""
  return -jnp.sum(jax.nn.log_sigmoid(-(t * (zimg @ ztxt.T) + b)))


def sigmoid_loss(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array) -> jax.Array:
  """Dense: the full [B, B] logits matrix at once. zimg, ztxt: [B, D] normalised."""
  zimg, ztxt, t, b = _f32(zimg, ztxt, t, b)
  return _block_sum(zimg, ztxt, t, b, 0, 0) / zimg.shape[0]


def chunked_sigmoid_loss(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array, *,
                         chunk_size: int) -> jax.Array:
  """Rows in chunks of `chunk_size` against all texts; logits of a chunk are recomputed in backward.

  Peak memory is [chunk_size, B] logits instead of [B, B]. A last chunk of fewer rows is
  handled as its own block, so any B works.
  """
  if chunk_size < 1:
    raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
  zimg, ztxt, t, b = _f32(zimg, ztxt, t, b)
  n = zimg.shape[0]
  chunk_size = min(chunk_size, n)  # a chunk bigger than the batch is the dense loss
  full, tail = divmod(n, chunk_size)
  block = jax.checkpoint(_block_sum)

  def body(total: jax.Array, i: jax.Array) -> tuple[jax.Array, None]:
    rows = jax.lax.dynamic_slice_in_dim(zimg, i * chunk_size, chunk_size)
    return total + block(rows, ztxt, t, b, i * chunk_size, 0), None

  total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), jnp.arange(full))
  if tail:
    total = total + block(zimg[full * chunk_size:], ztxt, t, b, full * chunk_size, 0)
  return total / n


def ring_sigmoid_loss(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array, *, mesh: Mesh,
                      axis_name: str = "data") -> jax.Array:
  """Each device scores its images against every device's texts, passing texts round a ring.

  Call under jit with zimg/ztxt sharded on the batch axis over `axis_name`. Device k first
  scores its own block (the positives), then D-1 times hands its current texts to device
  k+1 (`ppermute`) and scores the negatives it receives, so no device ever holds more than
  its own [b, b] logits. Each hop's block is checkpointed: its logits are recomputed in
  backward rather than stored D times. The per-device sums are added (`psum`) and divided
  by the global batch, giving exactly the dense loss.
  """
  size = mesh.shape[axis_name]
  zimg, ztxt, t, b = _f32(zimg, ztxt, t, b)
  if zimg.shape[0] % size:
    raise ValueError(f"global batch {zimg.shape[0]} does not split over {size} devices on {axis_name!r}")
  global_batch = zimg.shape[0]
  positive = jax.checkpoint(functools.partial(_block_sum, row0=0, col0=0))
  negative = jax.checkpoint(_negative_block_sum)
  ring = [(k, (k + 1) % size) for k in range(size)]

  def local(zimg: jax.Array, ztxt: jax.Array, t: jax.Array, b: jax.Array) -> jax.Array:
    total = positive(zimg, ztxt, t, b)

    def hop(carry: tuple[jax.Array, jax.Array], _: Any) -> tuple[tuple[jax.Array, jax.Array], None]:
      texts, total = carry
      texts = jax.lax.ppermute(texts, axis_name, ring)
      return (texts, total + negative(zimg, texts, t, b)), None

    (_, total), _ = jax.lax.scan(hop, (ztxt, total), None, length=size - 1)
    return jax.lax.psum(total, axis_name) / global_batch

  spec = P(axis_name)
  return jax.shard_map(local, mesh=mesh, in_specs=(spec, spec, P(), P()), out_specs=P())(zimg, ztxt, t, b)


LossFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def get_loss(name: str, *, mesh: Mesh | None = None, axis_name: str = "data", chunk_size: int | None = None
             ) -> LossFn:
  """'dense' | 'ring' (needs mesh) | 'chunked' (needs chunk_size) -> loss(zimg, ztxt, t, b)."""
  if name == "dense":
    return sigmoid_loss
  if name == "ring":
    if mesh is None:
      raise ValueError("the ring loss needs a mesh")
    return functools.partial(ring_sigmoid_loss, mesh=mesh, axis_name=axis_name)
  if name == "chunked":
    if not chunk_size:
      raise ValueError("the chunked loss needs chunk_size")
    return functools.partial(chunked_sigmoid_loss, chunk_size=chunk_size)
  raise ValueError(f"unknown loss {name!r}; expected dense, ring or chunked")


class Sigmoid(LossObjective):
  """The trainer's objective for two towers: (model, batch, rng) -> (sigmoid loss, metrics t and b)."""

  def __init__(self, loss_fn: LossFn):
    self.loss_fn = loss_fn

  def loss(self, model: Any, batch: Mapping[str, jax.Array], rng: jax.Array, extra: Mapping[str, Any] | None = None
           ) -> tuple[jax.Array, dict[str, jax.Array]]:
    zimg, ztxt, extras = model(batch["image"], batch["text"])
    return self.loss_fn(zimg, ztxt, extras["t"], extras["b"]), {"t": extras["t"], "b": extras["b"]}
