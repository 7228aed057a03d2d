"""Model bias on user-labelled images: representation bias (images without people) and association bias."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval import embed, metrics
from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import EmbeddingModel, ScoringModel

OWN_KEYS = ("attribute_prompts", "occupations", "occupation_template")


class BiasEvaluator:
  """config: dataset (a labelled set: attribute '' = no people), attribute_prompts {value: prompt} with two
  entries (e.g. {"male": "a photo of a man.", "female": "a photo of a woman."}), occupations [[o1, o2], ...]
  and occupation_template ('a photo of a {}.').

  representation_bias: share of people-free images the model assigns to the first attribute
  prompt, minus 0.5. association_bias/<o1>-<o2>: P(o1 | first attribute) - P(o1 | second
  attribute) on images of people; association_bias_mean_abs averages their magnitudes.
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.dataset = self.common.load(data_root, cache)
    prompts = dict(config.get("attribute_prompts") or {})
    if len(prompts) != 2:
      raise ValueError(f"bias eval: attribute_prompts needs exactly two entries, got {len(prompts)}")
    self.values, self.attribute_prompts = list(prompts), list(prompts.values())
    self.occupations = [tuple(p) for p in (config.get("occupations") or ())]
    if any(len(p) != 2 for p in self.occupations):
      raise ValueError("bias eval: occupations must be pairs")
    self.template = config.get("occupation_template") or "a photo of a {}."
    present = set(self.dataset.attribute)
    if "" not in present:
      raise ValueError(f"{self.dataset.name}: no images without people (empty attribute) for representation bias")
    if self.occupations and not set(self.values) <= present:
      raise ValueError(f"{self.dataset.name}: association bias needs images with attributes {self.values}")

  def run(self, model: EmbeddingModel | ScoringModel) -> Iterator[tuple[str, float]]:
    ds = self.dataset
    attr = np.asarray(ds.attribute, dtype=object)
    texts = list(self.attribute_prompts)
    for a, b in self.occupations:
      texts += [self.template.replace("{}", a), self.template.replace("{}", b)]
    sim = embed.scores(model, ds.files(), texts, self.common.batch_size)
    no_people = attr == ""
    yield "representation_bias", metrics.representation_bias(sim[no_people, :2])
    yield "images_without_people", float(no_people.sum())
    people = ~no_people
    values = []
    for k, (a, b) in enumerate(self.occupations):
      cols = sim[people][:, 2 + 2 * k:4 + 2 * k]
      bias = metrics.association_bias(cols, attr[people], *self.values)
      values.append(abs(bias))
      yield f"association_bias/{a}-{b}", bias
    if values:
      yield "association_bias_mean_abs", float(np.mean(values))
