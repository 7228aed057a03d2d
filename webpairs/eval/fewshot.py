"""Few-shot linear probes on frozen embeddings by closed-form ridge regression, as big_vision's `fewshot_lsr`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

L2_REG = 2.0**10
BIAS_CONST = 100.0
STD_EPS = 1e-5


class RidgeProbe:
  """Least squares from standardised features (plus a constant bias column) to one-hot targets in {-1, +1}.

  The eigendecomposition of the Gram matrix is computed once, so solving for another
  l2_reg is a rescaling: big_vision uses x^T x (D x D) when there are at least as many
  points as dimensions and x x^T (N x N) otherwise; both give the same weights.
  """

  def __init__(self, x_train: np.ndarray, y_train: np.ndarray, num_classes: int, *, bias_const: float = BIAS_CONST):
    x = np.asarray(x_train, np.float64)
    y = np.asarray(y_train, np.int64)
    if x.ndim != 2 or len(x) != len(y) or not len(x):
      raise ValueError(f"expected x [N > 0, D] and y [N], got {x.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= num_classes:
      raise ValueError(f"labels must lie in [0, {num_classes})")
    self.mean = x.mean(axis=0, keepdims=True)
    self.std = x.std(axis=0, keepdims=True) + STD_EPS
    self.bias_const = bias_const
    x = self._features(x)
    # The bias column is large, so its weight is barely regularised.
    targets = 2.0 * np.eye(num_classes)[y] - 1.0
    n, d = x.shape
    if n >= d:
      self.eigs, q = np.linalg.eigh(x.T @ x)
      self.lhs, self.rhs = q, q.T @ (x.T @ targets)
    else:
      self.eigs, q = np.linalg.eigh(x @ x.T)
      self.lhs, self.rhs = x.T @ q, q.T @ targets

  def _features(self, x: np.ndarray) -> np.ndarray:
    x = (np.asarray(x, np.float64) - self.mean) / self.std
    return np.pad(x, ((0, 0), (0, 1)), constant_values=self.bias_const)

  def weights(self, l2_reg: float = L2_REG) -> np.ndarray:
    """[D + 1, C]: (x^T x + l2 I)^-1 x^T y through the cached eigendecomposition."""
    return (self.lhs / (self.eigs + l2_reg)[None, :]) @ self.rhs

  def predict(self, x_test: np.ndarray, l2_reg: float = L2_REG) -> np.ndarray:
    return np.argmax(self._features(x_test) @ self.weights(l2_reg), axis=1)


def ridge_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                   l2_reg: float = L2_REG, bias_const: float = BIAS_CONST) -> float:
  """Test accuracy of the ridge probe fit on (x_train, y_train); labels are integer class ids."""
  y_train = np.asarray(y_train, np.int64)
  y_test = np.asarray(y_test, np.int64)
  if not len(y_test):
    raise ValueError("no test examples")
  num_classes = int(max(y_train.max(), y_test.max())) + 1
  probe = RidgeProbe(x_train, y_train, num_classes, bias_const=bias_const)
  return float(np.mean(probe.predict(x_test, l2_reg) == y_test))


def sample_shots(labels: np.ndarray, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(train, test) indices: `shots` random examples of each class for training, the rest of them for testing.

  Classes with no more than `shots` examples would leave nothing to test on and are left
  out of both. The draw depends only on (labels, shots, seed).
  """
  if shots < 1:
    raise ValueError(f"shots must be >= 1, got {shots}")
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  train, test = [], []
  for c in np.unique(labels):
    idx = np.flatnonzero(labels == c)
    if len(idx) <= shots:
      continue
    idx = rng.permutation(idx)
    train.append(idx[:shots])
    test.append(idx[shots:])
  if not train:
    raise ValueError(f"no class has more than {shots} examples")
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def fewshot_accuracy(x: np.ndarray, labels: Sequence[str] | np.ndarray, shots: int, seeds: Sequence[int], *,
                     l2_reg: float = L2_REG, bias_const: float = BIAS_CONST) -> dict[str, float]:
  """k-shot ridge accuracy over several seeds: {mean, std, min, max, classes, chance}.

  labels may be strings (countries, regions); examples with an empty label are left out.
  `classes` counts the classes with more than `shots` examples (the ones probed) and
  `chance` is 1 / classes.
  """
  if not seeds:
    raise ValueError("give at least one seed")
  labels = np.asarray(labels)
  keep = labels != "" if labels.dtype.kind in "US" else np.ones(len(labels), bool)
  _, y = np.unique(labels[keep], return_inverse=True)
  x = np.asarray(x)[keep]
  accs = []
  for seed in seeds:
    train, test = sample_shots(y, shots, seed)
    accs.append(ridge_accuracy(x[train], y[train], x[test], y[test], l2_reg=l2_reg, bias_const=bias_const))
  classes = int((np.bincount(y) > shots).sum())
  accs = np.asarray(accs)
  return {"mean": float(accs.mean()), "std": float(accs.std()), "min": float(accs.min()), "max": float(accs.max()),
          "classes": float(classes), "chance": 1.0 / classes}
