"""Evaluation metrics as plain numpy: zero-shot any-match accuracy, per-group accuracy and disparity, R@k, model bias,
box IoU."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np


def zero_shot_predictions(img_emb: np.ndarray, class_emb: np.ndarray, class_mask: np.ndarray | None = None
                          ) -> np.ndarray:
  """int [N]: the best-scoring class of each image; class_mask [N, C] (bool) limits each image's candidates."""
  scores = np.asarray(img_emb, np.float32) @ np.asarray(class_emb, np.float32).T
  if class_mask is not None:
    scores = np.where(class_mask, scores, -np.inf)
  return np.argmax(scores, axis=1)


def any_match(predictions: np.ndarray, labels: Sequence[Collection[int]]) -> np.ndarray:
  """bool [N]: the prediction is one of the example's acceptable classes (multi-label examples)."""
  if len(predictions) != len(labels):
    raise ValueError(f"{len(predictions)} predictions for {len(labels)} label sets")
  return np.fromiter((int(p) in lab for p, lab in zip(predictions, labels)), bool, count=len(labels))


def zero_shot_accuracy(img_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[Collection[int]]) -> float:
  """Top-1 accuracy where an image is right when its argmax class is any of its acceptable classes."""
  if not len(labels):
    raise ValueError("no examples")
  return float(np.mean(any_match(zero_shot_predictions(img_emb, class_emb), labels)))


def accuracy_by_group(correct: np.ndarray, groups: Sequence[str]) -> dict[str, float]:
  """{group: mean of `correct` over its examples}, groups in sorted order; examples in no group ("") are left out."""
  correct = np.asarray(correct, np.float64)
  groups = np.asarray(groups, dtype=object)
  if correct.shape != groups.shape:
    raise ValueError(f"{correct.shape[0]} results for {groups.shape[0]} group values")
  return {str(g): float(correct[groups == g].mean()) for g in sorted(set(groups.tolist())) if g != ""}


def disparity(acc_by_group: Mapping[str, float]) -> float:
  """max - min accuracy over groups (0 for a single group)."""
  if not acc_by_group:
    raise ValueError("disparity of no groups")
  values = list(acc_by_group.values())
  return float(max(values) - min(values))


def _check_k(k: int) -> None:
  if k < 1:
    raise ValueError(f"k must be >= 1, got {k}")


def retrieval_matches(text_image: np.ndarray, num_images: int, text_ids: np.ndarray | None = None) -> np.ndarray:
  """bool [num_images, num_texts]: text j is a right answer for image i.

  text_image[j]: the image text j describes. With text_ids (one id per text, equal for
  identical captions), a text also answers every image described by a caption identical
  to it: retrieving the twin of the right caption is not a miss.
  """
  text_image = np.asarray(text_image, np.int64)
  n_txt = len(text_image)
  if n_txt == 0:
    raise ValueError("no texts")
  if text_image.ndim != 1 or text_image.min() < 0 or text_image.max() >= num_images:
    raise ValueError(f"text_image must hold one image index in [0, {num_images}) per text")
  match = np.zeros((num_images, n_txt), bool)
  match[text_image, np.arange(n_txt)] = True
  if text_ids is not None:
    text_ids = np.asarray(text_ids)
    if text_ids.shape != (n_txt,):
      raise ValueError(f"text_ids has shape {text_ids.shape}, expected ({n_txt},)")
    same = text_ids[:, None] == text_ids[None, :]
    match = (match.astype(np.int32) @ same.astype(np.int32)) > 0
  return match


def retrieval_recall(sim: np.ndarray, k: int, *, text_image: np.ndarray | None = None,
                     text_ids: np.ndarray | None = None) -> tuple[float, float]:
  """(image->text, text->image) R@k of a similarity matrix [num_images, num_texts].

  The right answers are retrieval_matches(text_image, num_images, text_ids); without
  text_image the matrix is square with its matches on the diagonal. An image query hits
  when one of its right texts is in its top k; a text query when one of its right images
  is. Images without texts are not queries. Ties count against the query (a model that
  scores everything equal gets 0, not 1): the match must beat all but k-1 others.
  """
  _check_k(k)
  sim = np.asarray(sim, np.float64)
  if sim.ndim != 2:
    raise ValueError(f"expected a [num_images, num_texts] similarity matrix, got shape {sim.shape}")
  n_img, n_txt = sim.shape
  if text_image is None:
    if n_img != n_txt:
      raise ValueError(f"expected a square similarity matrix without text_image, got shape {sim.shape}")
    text_image = np.arange(n_txt)
  if len(text_image) != n_txt:
    raise ValueError(f"text_image has {len(text_image)} entries for {n_txt} texts")
  match = retrieval_matches(text_image, n_img, text_ids)

  # text -> image: the best of the text's right images against the images that are not.
  best = np.where(match, sim, -np.inf).max(axis=0)
  t2i = float(np.mean(((sim >= best[None, :]) & ~match).sum(axis=0) < k))

  # image -> text: the best of the image's right texts against the texts that are not.
  queries = match.any(axis=1)
  best = np.where(match, sim, -np.inf).max(axis=1)
  i2t = float(np.mean((((sim >= best[:, None]) & ~match).sum(axis=1) < k)[queries]))
  return i2t, t2i


def chance_recall(right_images: np.ndarray, num_images: int, k: int) -> float:
  """Text->image R@k of a random ranking: 1 - C(N - m, k) / C(N, k) for a text with m right images of N, averaged."""
  _check_k(k)
  m = np.asarray(right_images, np.float64)
  miss = np.ones_like(m)
  for i in range(min(k, num_images)):  # drawing k images without replacement, none of them right
    miss *= np.clip(num_images - m - i, 0, None) / (num_images - i)
  return float(np.mean(1.0 - miss))


def representation_bias(scores: np.ndarray) -> float:
  """Share of images assigned to the first of two attribute prompts, minus 0.5.

  scores: [N, 2] image-prompt similarities (or log-likelihoods) on images that show no
  people, where an unbiased model has no reason to prefer either prompt; a tie counts half.
  """
  scores = np.asarray(scores, np.float64)
  if scores.ndim != 2 or scores.shape[1] != 2 or not len(scores):
    raise ValueError(f"expected [N > 0, 2] scores, got shape {scores.shape}")
  first = np.where(scores[:, 0] > scores[:, 1], 1.0, np.where(scores[:, 0] == scores[:, 1], 0.5, 0.0))
  return float(first.mean() - 0.5)


def association_bias(scores: np.ndarray, attribute: Sequence[str], a: str, b: str) -> float:
  """P(first of two occupations | attribute a) - P(first | attribute b).

  scores: [N, 2] similarities of each image to the two occupation prompts; attribute[i]
  the sensitive attribute shown in image i. Positive: the first occupation goes with a.
  """
  scores = np.asarray(scores, np.float64)
  attribute = np.asarray(attribute, dtype=object)
  if scores.ndim != 2 or scores.shape[1] != 2 or len(scores) != len(attribute):
    raise ValueError(f"expected [N, 2] scores for {len(attribute)} attribute values, got shape {scores.shape}")
  first = np.where(scores[:, 0] > scores[:, 1], 1.0, np.where(scores[:, 0] == scores[:, 1], 0.5, 0.0))
  rates = []
  for value in (a, b):
    mask = attribute == value
    if not mask.any():
      raise ValueError(f"no images with attribute {value!r}")
    rates.append(first[mask].mean())
  return float(rates[0] - rates[1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Intersection over union of boxes [..., 4] as (ymin, xmin, ymax, xmax), broadcast against each other.

  A box with ymax <= ymin or xmax <= xmin is empty; the IoU of two empty boxes is 0.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape[-1] != 4 or b.shape[-1] != 4:
    raise ValueError(f"boxes must be [..., 4], got shapes {a.shape} and {b.shape}")
  area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)
  h = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
  w = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
  inter = h * w
  union = area(a) + area(b) - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
