"""Few-shot linear probes on frozen image embeddings (closed-form ridge): geo-localization by country and region."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval import embed, fewshot
from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import ImageEmbedder

OWN_KEYS = ("targets", "shots", "seeds", "l2_reg", "bias_const")


class FewShotEvaluator:
  """config: dataset, targets (attributes such as 'country', 'region', or 'label'), shots (k per class),
  seeds (how many draws, or a list of seeds), l2_reg (default 2^10), bias_const (default 100).

  Yields <target>/<k>shot (mean over seeds), <target>/<k>shot_std, <target>/chance.
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.dataset = self.common.load(data_root, cache)
    self.targets = list(config.get("targets") or ("country", "region"))
    for t in self.targets:
      if t != "label" and t not in self.dataset.attributes:
        raise ValueError(f"{self.dataset.name} has no attribute {t!r} to probe for")
    self.shots = [int(k) for k in (config.get("shots") or (5, 10, 25))]
    seeds = config.get("seeds", 3)
    self.seeds = list(range(int(seeds))) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    self.l2_reg = float(config.get("l2_reg") or fewshot.L2_REG)
    self.bias_const = float(config.get("bias_const") or fewshot.BIAS_CONST)
    for target in self.targets:  # fail at build time, not hours into a run
      labels = self._labels(target)
      _, counts = np.unique(labels[labels != ""] if labels.dtype.kind in "US" else labels, return_counts=True)
      for k in self.shots:
        if (counts > k).sum() < 2:
          raise ValueError(f"{self.dataset.name}: {k}-shot {target} probes need two classes with more than {k} "
                           f"images; the largest have {[int(c) for c in sorted(counts)[-2:]]} (fewer shots or more examples)")

  def _labels(self, target: str) -> np.ndarray:
    if target != "label":
      return np.asarray(self.dataset.attributes[target])
    # A multi-label image counts as its smallest class id: probes need one target per image.
    return np.asarray([min(lab) for lab in self.dataset.labels])

  def run(self, model: ImageEmbedder) -> Iterator[tuple[str, float]]:
    x = embed.image_embeddings(model, self.dataset.files(), self.common.batch_size)
    yield "examples", float(len(x))
    for target in self.targets:
      labels = self._labels(target)
      for k in self.shots:
        res = fewshot.fewshot_accuracy(x, labels, k, self.seeds, l2_reg=self.l2_reg, bias_const=self.bias_const)
        yield f"{target}/{k}shot", res["mean"]
        yield f"{target}/{k}shot_std", res["std"]
        yield f"{target}/{k}shot_chance", res["chance"]
