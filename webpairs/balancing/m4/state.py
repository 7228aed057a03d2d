"""The fitted M4 state: per-example keep probabilities q(x), the keep rule, and its JSON form."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

import numpy as np

from webpairs.balancing.m4 import hashing
from webpairs.balancing.m4 import moments

FORMAT = "webpairs.m4/1"


class InfeasibleError(ValueError):
  """No q in [0, 1] meets the hard constraints at this keep rate; `reason` says why."""

  def __init__(self, reason: str, *, eta: float, max_feasible_eta: float):
    super().__init__(reason)
    self.reason, self.eta, self.max_feasible_eta = reason, eta, max_feasible_eta


@dataclasses.dataclass
class M4Fit:
  """Duals (v, mu) and the problem they solve; applies per example, needs no other state.

  q(x) = clip((u - v.a(x) - mu) / gamma, 0, 1), with a(x) from `moments.bias_vector` and u = 1
  when utilities are not given. `info` holds the fit's diagnostics: n, n_cells, iterations,
  converged, kkt_residual, max_feasible_eta, infeasible, reason, expected_keep_rate,
  worst_violation (on the fitted data, of the expected q-weighted sample).
  """

  pi: np.ndarray  # (m,)
  eps_rep: np.ndarray  # (m,)
  eps_assoc: np.ndarray  # (m, c)
  eta: float
  V: float
  gamma: float
  seed: int
  v: np.ndarray  # (2m(c+1),), layout [+rep, -rep, +assoc, -assoc]
  mu: float
  method: str = "cells"
  info: dict = dataclasses.field(default_factory=dict)
  attributes: tuple[str, ...] | None = None
  concepts: tuple[str, ...] | None = None

  @property
  def m(self) -> int:
    return len(self.pi)

  @property
  def c(self) -> int:
    return self.eps_assoc.shape[1]

  @property
  def infeasible(self) -> bool:
    return bool(self.info.get("infeasible", False))

  @property
  def reason(self) -> str:
    return self.info.get("reason", "")

  def q(self, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """(n,) keep probabilities, computed in chunks (memory O(chunk * c))."""
    s, y = moments.as_indicators(s, "s"), moments.as_indicators(y, "y")
    if s.shape[1] != self.m or y.shape != (len(s), self.c):
      raise ValueError(f"expected s (n, {self.m}) and y (n, {self.c}), got {s.shape} and {y.shape}")
    eps = np.concatenate([self.eps_rep, self.eps_assoc.ravel()])
    v_plus, v_minus = moments.split_v(self.v, self.m)
    p = v_plus - v_minus
    p_rep, p_assoc = p[:self.m], p[self.m:].reshape(self.m, self.c)
    shift = eps @ (v_plus + v_minus) - self.mu  # the tolerances' part of -v.a, and -mu
    out = np.empty(len(s))
    for sl in moments.chunks(len(s)):
      z = np.asarray(s[sl], np.float64) - self.pi
      # g.p = z.p_rep + sum_ij z_i y_j P_ij, without forming the (rows, m*c) features.
      gp = z @ p_rep + np.einsum("ni,ni->n", z, np.asarray(y[sl], np.float64) @ p_assoc.T)
      uu = 1.0 if u is None else np.asarray(u[sl], np.float64)
      out[sl] = np.clip((uu - gp + shift) / self.gamma, 0.0, 1.0)
    return out

  def keep(self, keys: Sequence, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """(n,) bool: keep iff uniform(key, seed) < q (rule in `hashing`); deterministic, order-free."""
    if len(keys) != len(s):
      raise ValueError("need one key per row")
    return hashing.key_uniform(keys, self.seed) < self.q(s, y, u)

  def report(self, s: np.ndarray, y: np.ndarray, u: np.ndarray | None = None, *,
             keep: np.ndarray | None = None) -> dict:
    """`bias_report` of the expected sample (weights q), or of a realised 0/1 `keep` mask."""
    w = self.q(s, y, u) if keep is None else np.asarray(keep, np.float64)
    rep = moments.bias_report(s, y, w, self.pi, eps_rep=self.eps_rep, eps_assoc=self.eps_assoc)
    rep.update(eta=self.eta, infeasible=self.infeasible, reason=self.reason,
               max_feasible_eta=self.info.get("max_feasible_eta"))
    return rep

  def to_json(self) -> str:
    d = {
        "format": FORMAT, "m": self.m, "c": self.c, "pi": self.pi.tolist(), "eps_rep": self.eps_rep.tolist(),
        "eps_assoc": self.eps_assoc.tolist(), "eta": self.eta,
        "V": None if math.isinf(self.V) else self.V,  # JSON has no infinity: null = hard constraints
        "gamma": self.gamma, "seed": self.seed, "v": self.v.tolist(), "mu": self.mu,
        "method": self.method, "info": self.info,
        "attributes": None if self.attributes is None else list(self.attributes),
        "concepts": None if self.concepts is None else list(self.concepts),
    }
    return json.dumps(d)

  @classmethod
  def from_json(cls, text: str) -> M4Fit:
    d = json.loads(text)
    if d.get("format") != FORMAT:
      raise ValueError(f"not an M4 state ({FORMAT}): format={d.get('format')!r}")
    return cls(
        pi=np.array(d["pi"], np.float64), eps_rep=np.array(d["eps_rep"], np.float64),
        eps_assoc=np.array(d["eps_assoc"], np.float64).reshape(d["m"], d["c"]), eta=d["eta"],
        V=math.inf if d["V"] is None else d["V"], gamma=d["gamma"], seed=d["seed"],
        v=np.array(d["v"], np.float64), mu=d["mu"], method=d["method"], info=d["info"],
        attributes=None if d["attributes"] is None else tuple(d["attributes"]),
        concepts=None if d["concepts"] is None else tuple(d["concepts"]))
