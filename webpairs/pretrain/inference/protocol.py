"""How evals and scoring talk to a trained model: L2-normalised embeddings (two towers) or text scores and
decoding (captioners); require_captioner and check_normalised check a model keeps its side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ImageEmbedder(Protocol):
  """uint8 [B, S, S, 3] images (S = image_size) -> float [B, D] L2-normalised embeddings."""

  image_size: int

  def embed_images(self, images: np.ndarray) -> np.ndarray:
    ...


@runtime_checkable
class EmbeddingModel(ImageEmbedder, Protocol):
  """A two-tower model: images and texts in one L2-normalised space, compared by dot product."""

  def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
    ...


@runtime_checkable
class PairScoringModel(EmbeddingModel, Protocol):
  """A two-tower with the pair logit it was trained with: t * cos(image, text) + b (the sigmoid loss's)."""

  def scale_and_bias(self) -> tuple[np.float32, np.float32]:
    ...


@runtime_checkable
class ScoringModel(Protocol):
  """A captioner (CapPa, LocCa): scores texts given images instead of embedding texts.

  score_texts returns float [B, T]: log p(text_j | image_i), summed over the text's
  tokens; higher is a better match. Zero-shot and retrieval rank by it. A captioner that
  also has embed_images (its image encoder's pooled features) gets few-shot probes too.
  """

  image_size: int

  def score_texts(self, images: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    ...


@runtime_checkable
class CaptioningModel(ScoringModel, Protocol):
  """A captioner the caption evals drive token by token (pretrain.inference.captioner.CaptionerModel).

  caption_rows: texts -> (labels int [T, L], weights [T, L]) as the trainer's targets.
  score: (sum, per-token mean) log-likelihood [R] of each label row's weighted targets
  given images[image_index[r]]. decode: token ids continuing each prefix row; continue_prompts: the text each
  prompt continues with.
  """

  def caption_rows(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    ...

  def score(self, images: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
            image_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    ...

  def decode(self, images: np.ndarray, prefix: np.ndarray, prefix_len: np.ndarray | None = None, *, length: int,
             beam_size: int = 1, length_penalty: float = 0.0, image_index: np.ndarray | None = None) -> np.ndarray:
    ...

  def continue_prompts(self, images: np.ndarray, prompts: Sequence[str], *, max_new_tokens: int,
                       beam_size: int = 1, length_penalty: float = 0.0, image_index: np.ndarray | None = None
                       ) -> list[str]:
    ...


Model = EmbeddingModel | ScoringModel


def require_captioner(model: object, evaluator: str) -> CaptioningModel:
  """The model, after checking it is a CaptioningModel: a two tower fails here, not deep inside an eval."""
  if not isinstance(model, CaptioningModel):
    raise TypeError(f"the {evaluator} eval needs a captioner (score / continue_prompts); {type(model).__name__} "
                    "is not one")
  return model


def check_normalised(emb: np.ndarray, what: str, atol: float = 1e-3) -> np.ndarray:
  """The embeddings as float32, after checking they are finite unit vectors (dot products are cosines)."""
  emb = np.asarray(emb, np.float32)
  if emb.ndim != 2:
    raise ValueError(f"{what} embeddings must be [N, D], got shape {emb.shape}")
  if not np.isfinite(emb).all():
    raise ValueError(f"{what} embeddings hold NaN or inf")
  norms = np.linalg.norm(emb, axis=1)
  if len(norms) and np.abs(norms - 1).max() > atol:
    raise ValueError(f"{what} embeddings are not L2-normalised (norms {norms.min():.4f}..{norms.max():.4f})")
  return emb
