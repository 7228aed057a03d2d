"""Streaming M4 fit: projected dual ascent, one step per batch (batch 1 = one per example).

Each step moves the duals along the batch's dual gradient (E_b[q a], E_b[q] - eta), scaled per
coordinate by a running estimate of the dual's curvature E[b_j^2 1{0<q<1}] / gamma (b = (a, 1)):
plain ascent crawls along rare concepts, whose curvature is tiny. The step for a batch of b
examples after `seen` examples is lr * b / sqrt(tau (tau + seen)) (capped at lr), so batch sizes
1 and 256 follow nearly the same path; v is projected onto [0, V]. The fit is the average of
the iterates weighted by examples seen (later iterates count more). Examples must arrive in
random order. The whole state, including a not yet full batch, serialises to JSON, so a
resumed fit is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import math

import numpy as np

from webpairs.balancing.m4 import dual
from webpairs.balancing.m4 import moments
from webpairs.balancing.m4 import state as state_lib

_SPAN = 1 << 13  # rows whose features are formed at once: (span, m(1+c)) float64
_ARRAYS = ("x", "x_avg", "curv_g", "curv_g2")
_SCALARS = ("seen", "steps", "avg_weight", "curv_n", "initialised")


class StreamFitter:
  """Consumes (s, y, u) in batches; `result()` gives the `M4Fit` of the averaged duals."""

  def __init__(self, m: int, c: int, *, pi, eps_rep, eps_assoc, eta: float, V: float = math.inf,
               gamma: float = 1.0, batch_size: int = 256, lr: float = 1.0, tau: float = 1000.0,
               seed: int = 0):
    self.m, self.c = m, c
    self.pi, self.eps = moments.broadcast_params(m, c, pi, eps_rep, eps_assoc)
    self.eta, self.V, self.gamma, self.seed = float(eta), float(V), float(gamma), int(seed)
    self.batch_size, self.lr, self.tau = int(batch_size), float(lr), float(tau)
    D = m * (1 + c)
    self.x = np.zeros(2 * D + 1)  # (v+, v-, mu)
    self.x_avg = np.zeros(2 * D + 1)
    self.curv_g, self.curv_g2 = np.zeros(D), np.zeros(D)  # sums over interior examples of g, g^2
    self.curv_n = 0  # interior examples
    self.seen = self.steps = 0
    self.avg_weight = 0.0
    self.initialised = False
    self._buf_s = np.zeros((0, m), np.uint8)
    self._buf_y = np.zeros((0, c), np.uint8)
    self._buf_u = np.zeros(0)

  def partial_fit(self, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None) -> StreamFitter:
    """Steps on every full batch of (buffer + these rows); keeps the rest for the next call."""
    s, y = moments.as_indicators(s, "s"), moments.as_indicators(y, "y")
    u = np.ones(len(s)) if u is None else np.asarray(u, np.float64)
    if s.shape[1] != self.m or y.shape != (len(s), self.c) or u.shape != (len(s),):
      raise ValueError(f"expected s (n, {self.m}), y (n, {self.c}), u (n,)")
    B, start = self.batch_size, 0
    if len(self._buf_u):  # complete the buffered batch first
      start = min(len(s), B - len(self._buf_u))
      self._buf_s = np.concatenate([self._buf_s, s[:start].astype(np.uint8)])
      self._buf_y = np.concatenate([self._buf_y, y[:start].astype(np.uint8)])
      self._buf_u = np.concatenate([self._buf_u, u[:start]])
      if len(self._buf_u) < B:
        return self
      self.flush()
    full = start + (len(s) - start) // B * B
    span = max(B, _SPAN // B * B)
    for lo in range(start, full, span):  # features per span of whole batches: few numpy calls per step
      hi = min(full, lo + span)
      g = moments.features(s[lo:hi], y[lo:hi], self.pi)
      for b0 in range(0, hi - lo, B):
        self._step(g[b0:b0 + B], u[lo + b0:lo + b0 + B])
    self._buf_s, self._buf_y, self._buf_u = s[full:].astype(np.uint8), y[full:].astype(np.uint8), u[full:].copy()
    return self

  def flush(self) -> StreamFitter:
    """Steps on the buffered partial batch, if any (call once at the end of an epoch)."""
    if len(self._buf_u):
      self._step(moments.features(self._buf_s, self._buf_y, self.pi), self._buf_u)
      self._buf_s, self._buf_y, self._buf_u = self._buf_s[:0], self._buf_y[:0], self._buf_u[:0]
    return self

  def _step(self, g, u):
    D, b, gamma, eps = len(self.eps), len(u), self.gamma, self.eps
    if not self.initialised:  # mu with E_batch[q] = eta at v = 0
      self.x[2 * D] = dual.initial_mu(u, np.full(b, 1.0 / b), self.eta, gamma)
      self.initialised = True
    vp, vm, mu = self.x[:D], self.x[D:2 * D], self.x[2 * D]
    t = u - g @ (vp - vm) + eps @ (vp + vm) - mu
    q = np.minimum(np.maximum(t / gamma, 0.0), 1.0)
    inside = ((t > 0) & (t < gamma)).astype(np.float64)
    self.curv_n += int(inside.sum())
    self.curv_g += inside @ g
    self.curv_g2 += inside @ (g * g)
    n = self.seen + b
    # Curvature of the dual along v+_j, v-_j, mu: E[(±g_j - eps_j)^2 1_in] / gamma, E[1_in] / gamma.
    cross = 2 * eps * self.curv_g
    base = self.curv_g2 + eps * eps * self.curv_n
    floor = 1e-3 / gamma  # keeps steps finite before any example is interior
    h = np.concatenate([base - cross, base + cross, [self.curv_n]]) / (n * gamma) + floor
    e_q, e_qg = q.sum() / b, q @ g / b
    ascent = np.concatenate([e_qg - eps * e_q, -e_qg - eps * e_q, [e_q - self.eta]])
    lr = min(self.lr, self.lr * b / math.sqrt(self.tau * (self.tau + self.seen)))
    x = self.x + lr * ascent / h
    x[:2 * D] = np.minimum(np.maximum(x[:2 * D], 0.0), self.V)
    self.x, self.seen, self.steps = x, n, self.steps + 1
    weight = float(b) * n  # iterate average weighted by examples seen: later iterates count more
    self.avg_weight += weight
    self.x_avg += (weight / self.avg_weight) * (x - self.x_avg)

  def result(self, *, info: dict | None = None) -> state_lib.M4Fit:
    """The fit at the averaged duals (buffered rows not included: call `flush` first)."""
    D = len(self.eps)
    return state_lib.M4Fit(
        pi=self.pi.copy(), eps_rep=self.eps[:self.m].copy(), eps_assoc=self.eps[self.m:].reshape(self.m, self.c),
        eta=self.eta, V=self.V, gamma=self.gamma, seed=self.seed,
        v=moments.join_v(self.x_avg[:D], self.x_avg[D:2 * D], self.m), mu=float(self.x_avg[2 * D]),
        method="stream", info={"n": self.seen, "iterations": self.steps, **(info or {})})

  def to_json(self) -> str:
    d = {"m": self.m, "c": self.c, "pi": self.pi.tolist(), "eps": self.eps.tolist(), "eta": self.eta,
         "V": None if math.isinf(self.V) else self.V, "gamma": self.gamma, "seed": self.seed,
         "batch_size": self.batch_size, "lr": self.lr, "tau": self.tau,
         "buffer": {"s": self._buf_s.tolist(), "y": self._buf_y.tolist(), "u": self._buf_u.tolist()}}
    d.update({k: getattr(self, k).tolist() for k in _ARRAYS})
    d.update({k: getattr(self, k) for k in _SCALARS})
    return json.dumps(d)

  @classmethod
  def from_json(cls, text: str) -> StreamFitter:
    d = json.loads(text)
    m, c = d["m"], d["c"]
    eps = np.array(d["eps"])
    out = cls(m, c, pi=d["pi"], eps_rep=eps[:m], eps_assoc=eps[m:].reshape(m, c), eta=d["eta"],
              V=math.inf if d["V"] is None else d["V"], gamma=d["gamma"], batch_size=d["batch_size"],
              lr=d["lr"], tau=d["tau"], seed=d["seed"])
    for k in _ARRAYS:
      setattr(out, k, np.array(d[k], np.float64))
    for k in _SCALARS:
      setattr(out, k, d[k])
    out._buf_s = np.array(d["buffer"]["s"], np.uint8).reshape(-1, m)
    out._buf_y = np.array(d["buffer"]["y"], np.uint8).reshape(-1, c)
    out._buf_u = np.array(d["buffer"]["u"], np.float64)
    return out
