"""Run a model over eval data in batches: image and text embeddings, class embeddings from prompts, similarity."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from webpairs.eval import images
from webpairs.pretrain.inference.protocol import EmbeddingModel, ImageEmbedder, ScoringModel, check_normalised


def image_batches(files: Sequence[str] | Any, size: int, batch_size: int) -> Iterator[np.ndarray]:
  """uint8 [B, size, size, 3] batches of image files, or of a set that decodes its own (held-out curated shards)."""
  if hasattr(files, "image_batches"):
    return files.image_batches(size, batch_size)
  return images.batches(files, size, batch_size)


def image_embeddings(model: ImageEmbedder, files: Sequence[str] | Any, batch_size: int) -> np.ndarray:
  if not isinstance(model, ImageEmbedder):
    raise TypeError(f"{type(model).__name__} has no embed_images: this evaluator needs image embeddings")
  out = [check_normalised(model.embed_images(b), "image") for b in image_batches(files, model.image_size, batch_size)]
  return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def text_embeddings(model: EmbeddingModel, texts: Sequence[str], batch_size: int) -> np.ndarray:
  out = [check_normalised(model.embed_texts(list(texts[i:i + batch_size])), "text")
         for i in range(0, len(texts), batch_size)]
  return np.concatenate(out)


def prompts_of(classnames: Sequence[Sequence[str]], templates: Sequence[str]) -> tuple[list[str], np.ndarray]:
  """(every template filled with every name of every class, owning class of each prompt)."""
  texts, owner = [], []
  for c, names in enumerate(classnames):
    for name in names:
      for t in templates:
        texts.append(t.replace("{}", name))
        owner.append(c)
  return texts, np.asarray(owner, np.int64)


def class_embeddings(model: EmbeddingModel, classnames: Sequence[Sequence[str]], templates: Sequence[str],
                     batch_size: int) -> np.ndarray:
  """[C, D]: each class's prompt embeddings (templates x aliases) averaged, then re-normalised (CLIP's ensemble)."""
  texts, owner = prompts_of(classnames, templates)
  emb = text_embeddings(model, texts, batch_size)
  sums = np.zeros((len(classnames), emb.shape[1]), np.float64)
  np.add.at(sums, owner, emb)
  mean = sums / np.bincount(owner, minlength=len(classnames))[:, None]
  return (mean / np.linalg.norm(mean, axis=1, keepdims=True)).astype(np.float32)


def scores(model: EmbeddingModel | ScoringModel, files: Sequence[str] | Any, texts: Sequence[str], batch_size: int
           ) -> np.ndarray:
  """[num_images, num_texts] match scores: cosine for two towers, log p(text | image) for captioners."""
  if isinstance(model, EmbeddingModel):
    return image_embeddings(model, files, batch_size) @ text_embeddings(model, texts, batch_size).T
  if isinstance(model, ScoringModel):
    rows = [np.asarray(model.score_texts(b, list(texts)), np.float32)
            for b in image_batches(files, model.image_size, batch_size)]
    out = np.concatenate(rows)
    if not np.isfinite(out).all():
      raise ValueError("text scores hold NaN or inf")
    return out
  raise TypeError(f"{type(model).__name__} is neither an EmbeddingModel nor a ScoringModel")


def class_scores(model: EmbeddingModel | ScoringModel, files: Sequence[str], classnames: Sequence[Sequence[str]],
                 templates: Sequence[str], batch_size: int) -> np.ndarray:
  """[num_images, C]: image-class scores, prompt-ensembled (embeddings averaged, or log-likelihoods averaged)."""
  if isinstance(model, EmbeddingModel):
    return image_embeddings(model, files, batch_size) @ class_embeddings(model, classnames, templates, batch_size).T
  texts, owner = prompts_of(classnames, templates)
  per_prompt = scores(model, files, texts, batch_size)
  sums = np.zeros((per_prompt.shape[0], len(classnames)), np.float64)
  np.add.at(sums.T, owner, per_prompt.T)
  return (sums / np.bincount(owner, minlength=len(classnames))[None, :]).astype(np.float32)


def text_scorer(model: EmbeddingModel | ScoringModel, files: Sequence[str] | Any, batch_size: int
                ) -> Callable[[Sequence[str]], np.ndarray]:
  """texts -> [num_images, num_texts] scores against the fixed images, the image side computed once for two towers.

  For many texts (XM3600: 36 languages) score them a language at a time: one full
  similarity matrix would not fit in memory.
  """
  if isinstance(model, EmbeddingModel):
    img = image_embeddings(model, files, batch_size)
    return lambda texts: img @ text_embeddings(model, texts, batch_size).T
  return lambda texts: scores(model, files, texts, batch_size)
