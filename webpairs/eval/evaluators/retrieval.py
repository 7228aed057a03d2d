"""Image-text retrieval: R@k in both directions, per caption language, with the low-resource languages' mean."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from webpairs.eval import embed, metrics
from webpairs.eval.datasets import xm3600
from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import EmbeddingModel, ScoringModel

OWN_KEYS = ("ks", "low_resource", "by_language", "identical_captions_match")


class RetrievalEvaluator:
  """config: dataset (captions, possibly in many languages), ks (default 1, 5, 10), low_resource (language codes),
  by_language (default true), identical_captions_match (default false).

  Each language is its own retrieval problem (its captions against the images they
  describe); with by_language false all captions form one. Yields i2t_r<k> and t2i_r<k>
  averaged over languages, chance_r<k>, the same per language as <metric>/language/<code>,
  <metric>_disparity/language, and <metric>/low_resource (the mean over the low-resource
  languages present). With identical_captions_match, a caption identical to the right one
  is right too (held-out web captions repeat), and chance accounts for it.
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.dataset = self.common.load(data_root, cache)
    self.ks = tuple(int(k) for k in (config.get("ks") or (1, 5, 10)))
    self.low_resource = {xm3600.canonical_language(x) for x in (config.get("low_resource") or xm3600.LOW_RESOURCE)}
    self.by_language = bool(config.get("by_language", True))
    self.identical_captions_match = bool(config.get("identical_captions_match", False))

  def run(self, model: EmbeddingModel | ScoringModel) -> Iterator[tuple[str, float]]:
    ds = self.dataset
    score = embed.text_scorer(model, common.image_source(ds), self.common.batch_size)
    langs = ds.languages() if self.by_language else [""]
    per_lang: dict[str, dict[str, float]] = {}
    lang_of = np.asarray(ds.text_lang if self.by_language else [""] * len(ds.captions), dtype=object)
    # A text's right images: its own (chance k / N; image queries with several texts do a bit better),
    # and with identical_captions_match those of its identical twins.
    text_ids = _text_ids(model, ds.captions) if self.identical_captions_match else None
    right = np.ones(len(ds.captions))
    for lang in langs:
      cols = np.flatnonzero(lang_of == lang)
      sim = score([ds.captions[j] for j in cols])
      ids = None if text_ids is None else text_ids[cols]
      if ids is not None:
        right[cols] = metrics.retrieval_matches(ds.text_image[cols], len(ds), ids).sum(axis=0)
      out = {}
      for k in self.ks:
        out[f"i2t_r{k}"], out[f"t2i_r{k}"] = metrics.retrieval_recall(sim, k, text_image=ds.text_image[cols],
                                                                      text_ids=ids)
      per_lang[lang] = out
    names = list(next(iter(per_lang.values())))
    for name in names:
      yield name, float(np.mean([v[name] for v in per_lang.values()]))
    for k in self.ks:
      yield f"chance_r{k}", metrics.chance_recall(right, len(ds), k)
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


def _text_ids(model: Any, captions: Sequence[str]) -> np.ndarray:
  """One id per caption, shared by captions the model cannot tell apart: the same tokens when it tokenizes
  (after truncation to its max_len), else the same string."""
  if hasattr(model, "tokenize"):
    rows = np.asarray(model.tokenize(list(captions)))
  else:
    rows = np.asarray(list(captions), dtype=object).astype(str)[:, None]
  return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)
