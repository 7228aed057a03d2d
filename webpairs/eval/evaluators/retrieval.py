"""Image-text retrieval: R@k in both directions, per caption language, with the low-resource languages' mean."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval import embed, metrics
from webpairs.eval.datasets import xm3600
from webpairs.eval.evaluators import common
from webpairs.eval.model import EmbeddingModel, ScoringModel

OWN_KEYS = ("ks", "low_resource")


class RetrievalEvaluator:
  """config: dataset (captions, possibly in many languages), ks (default 1, 5, 10), low_resource (language codes).

  Each language is its own retrieval problem (its captions against the images they
  describe). Yields i2t_r<k> and t2i_r<k> averaged over languages, chance_r<k>, the same
  per language as <metric>/language/<code>, <metric>_disparity/language, and
  <metric>/low_resource (the mean over the low-resource languages present).
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.dataset = self.common.load(data_root, cache)
    self.ks = tuple(int(k) for k in (config.get("ks") or (1, 5, 10)))
    self.low_resource = {xm3600.canonical_language(x) for x in (config.get("low_resource") or xm3600.LOW_RESOURCE)}

  def run(self, model: EmbeddingModel | ScoringModel) -> Iterator[tuple[str, float]]:
    ds = self.dataset
    score = embed.text_scorer(model, ds.files(), self.common.batch_size)
    langs = ds.languages()
    per_lang: dict[str, dict[str, float]] = {}
    lang_of = np.asarray(ds.text_lang, dtype=object)
    for lang in langs:
      cols = np.flatnonzero(lang_of == lang)
      sim = score([ds.captions[j] for j in cols])
      out = {}
      for k in self.ks:
        out[f"i2t_r{k}"], out[f"t2i_r{k}"] = metrics.retrieval_recall_multi(sim, ds.text_image[cols], k)
      per_lang[lang] = out
    names = list(next(iter(per_lang.values())))
    for name in names:
      yield name, float(np.mean([v[name] for v in per_lang.values()]))
    for k in self.ks:  # a text's one image among N: k / N (image queries with several texts do a bit better)
      yield f"chance_r{k}", min(k, len(ds)) / len(ds)
    yield "examples", float(len(ds))
    yield "languages", float(len(langs))
    if len(langs) < 2:
      return
    for name in names:
      by_lang = {lang: v[name] for lang, v in per_lang.items()}
      for lang in langs:
        yield f"{name}/language/{lang}", by_lang[lang]
      yield f"{name}_disparity/language", metrics.disparity(by_lang)
      low = [by_lang[x] for x in langs if xm3600.canonical_language(x) in self.low_resource]
      if low:
        yield f"{name}/low_resource", float(np.mean(low))
