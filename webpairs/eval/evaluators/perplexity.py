"""Caption perplexity of a captioner on held-out captioned images: curated shards or a captioned set (XM3600 format)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import require_captioner

OWN_KEYS = ()


class PerplexityEvaluator:
  """config: dataset ('curated' with data_dir the held-out shards, or a captioned set such as 'xm3600').

  Every caption is scored teacher-forced as the trainer's targets are (its tokens and one
  EOS; a caption past max_len is cut as in training). Yields nll_per_token (the corpus'
  summed negative log-likelihood over its token count) and ppl = exp(nll_per_token);
  teacher_forced_loss (the mean over captions of each one's per-token nll: the trainer's
  loss_teacher_forced); captions, tokens, examples; and ppl/language/<code> when the
  captions hold several languages.
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.dataset = self.common.load(data_root, cache)
    if not hasattr(self.dataset, "captions"):
      raise ValueError(f"caption_perplexity: {self.dataset.name} holds no captions")
    if not len(self.dataset.captions):
      raise ValueError(f"caption_perplexity: {self.dataset.name} has no captions")

  def run(self, model: Any) -> Iterator[tuple[str, float]]:
    model = require_captioner(model, "caption_perplexity")
    ds = self.dataset
    text_image = np.asarray(ds.text_image)
    order = np.argsort(text_image, kind="stable")  # captions grouped by image, so a batch finds its own
    bounds = np.searchsorted(text_image[order], np.arange(len(ds) + 1))
    nll = np.zeros(len(text_image))
    tokens = np.zeros(len(text_image))
    start = 0
    for batch in common.image_batches(ds, model.image_size, self.common.batch_size):
      rows = order[bounds[start]:bounds[start + len(batch)]]
      if len(rows):
        labels, weights = model.caption_rows([ds.captions[j] for j in rows])
        total, _ = model.score(batch, labels, weights, image_index=text_image[rows] - start)
        nll[rows], tokens[rows] = -total, weights.sum(axis=1)
      start += len(batch)
    per_token = float(nll.sum() / tokens.sum())
    yield "ppl", float(np.exp(per_token))
    yield "nll_per_token", per_token
    yield "teacher_forced_loss", float(np.mean(nll / np.maximum(tokens, 1.0)))
    yield "captions", float(len(nll))
    yield "tokens", float(tokens.sum())
    yield "examples", float(len(ds))
    langs = np.asarray(ds.text_lang, dtype=object)
    if len(set(langs.tolist())) > 1:
      for lang in sorted(set(langs.tolist())):
        mask = langs == lang
        yield f"ppl/language/{lang or 'unknown'}", float(np.exp(nll[mask].sum() / tokens[mask].sum()))
