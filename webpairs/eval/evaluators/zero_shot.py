"""Zero-shot classification: prompt-ensembled class embeddings (or captioner log-likelihoods), any-match accuracy,
per-group accuracy and disparity."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval import embed, metrics, prompts
from webpairs.eval.datasets import ClassificationSet
from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import EmbeddingModel, ScoringModel

OWN_KEYS = ("templates", "aliases", "target", "groups")
DEFAULT_TEMPLATES = "CIFAR10"  # CLIP's 18 generic "a photo of a {}." variants


def attribute_target(ds: ClassificationSet, kind: str) -> ClassificationSet:
  """The set relabelled by one of its attributes (zero-shot geo-localization: classes are the countries)."""
  if kind not in ds.attributes:
    raise ValueError(f"{ds.name} has no attribute {kind!r}; it has {', '.join(ds.attributes) or 'none'}")
  keep = [i for i, v in enumerate(ds.attributes[kind]) if v]
  ds = ds.subset(keep)
  names = ds.ordered_groups(kind)
  ids = {n: i for i, n in enumerate(names)}
  return ClassificationSet(name=f"{ds.name}:{kind}", root=ds.root, paths=ds.paths,
                           labels=tuple(frozenset([ids[v]]) for v in ds.attributes[kind]),
                           classnames=tuple((n,) for n in names),
                           attributes={k: v for k, v in ds.attributes.items() if k != kind},
                           group_order=ds.group_order)


class ZeroShotEvaluator:
  """config: dataset, templates (a CLIP dataset name or a list), aliases {class name: [more names]},
  target ('label' or an attribute such as 'country'), groups (attributes to break accuracy down by; default all).

  Yields accuracy, chance, accuracy/<kind>/<group>, accuracy_disparity/<kind>, accuracy_worst/<kind>.
  """

  own_keys = OWN_KEYS

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, self.own_keys)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    ds = self.common.load(data_root, cache)
    target = config.get("target") or "label"
    if target != "label":
      ds = attribute_target(ds, target)
    aliases = {k: list(v) for k, v in (config.get("aliases") or {}).items()}
    self.classnames = [list(dict.fromkeys(list(names) + aliases.get(names[0], []))) for names in ds.classnames]
    self.templates = prompts.resolve_templates(config.get("templates") or DEFAULT_TEMPLATES)
    kinds = config.get("groups")
    kinds = list(ds.attributes) if kinds is None else list(kinds)
    unknown = [k for k in kinds if k not in ds.attributes]
    if unknown:
      raise ValueError(f"{ds.name} has no attribute(s) {unknown}; it has {', '.join(ds.attributes) or 'none'}")
    self.groups = kinds
    self.dataset = ds

  def run(self, model: EmbeddingModel | ScoringModel) -> Iterator[tuple[str, float]]:
    ds = self.dataset
    scores = embed.class_scores(model, ds.files(), self.classnames, self.templates, self.common.batch_size)
    mask = ds.class_mask()
    if mask is not None:
      scores = np.where(mask, scores, -np.inf)
    correct = metrics.any_match(np.argmax(scores, axis=1), ds.labels)
    candidates = mask.sum(axis=1) if mask is not None else np.full(len(ds), ds.num_classes)
    yield "accuracy", float(correct.mean())
    yield "chance", float(np.mean([len(lab) / c for lab, c in zip(ds.labels, candidates)]))
    yield "examples", float(len(ds))
    order = {k: ds.ordered_groups(k) for k in self.groups}
    yield from common.group_metrics("accuracy", correct, {k: ds.attributes[k] for k in self.groups}, order)


class _Scorer:
  """Only the scoring side of a model (a SigLIP 2 model also embeds), by the sum or the per-token mean."""

  def __init__(self, model: ScoringModel, reduce: str):
    self.model, self.reduce, self.image_size = model, reduce, model.image_size

  def score_texts(self, images: np.ndarray, texts: list[str]) -> np.ndarray:
    if self.reduce == "sum":
      return self.model.score_texts(images, texts)
    return self.model.score_texts(images, texts, reduce=self.reduce)  # type: ignore[call-arg]


class CaptionZeroShotEvaluator(ZeroShotEvaluator):
  """Zero-shot classification by a captioner (CapPa, LocCa): each class scores the log-likelihood of its
  prompts given the image, averaged over templates x aliases; the best-scoring class is the prediction.

  config: zero_shot's, plus reduce: 'sum' (default: log p of the whole prompt and its EOS,
  what any ScoringModel gives zero_shot) or 'mean' (per token, which stops a class name that
  takes more tokens losing for its length alone). Each batch of images is encoded
  once and every prompt is scored against it. Yields zero_shot's metrics.
  """

  own_keys = OWN_KEYS + ("reduce",)

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    super().__init__(config, data_root=data_root, cache=cache)
    self.reduce = str(config.get("reduce") or "sum")
    if self.reduce not in ("sum", "mean"):
      raise ValueError(f"caption_zero_shot eval: reduce must be 'sum' or 'mean', got {self.reduce!r}")

  def run(self, model: ScoringModel) -> Iterator[tuple[str, float]]:
    if not isinstance(model, ScoringModel):
      raise TypeError(f"caption_zero_shot scores texts with a captioner; {type(model).__name__} has no "
                      "score_texts (zero_shot evaluates two towers)")
    yield from super().run(_Scorer(model, self.reduce))
