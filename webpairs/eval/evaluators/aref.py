"""ARef (referring expression -> box) accuracy of a LocCa captioner on held-out curated shards with regions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from webpairs.eval import metrics
from webpairs.eval.evaluators import common
from webpairs.pretrain.inference.protocol import CaptioningModel, require_captioner
from webpairs.pretrain.objectives import locca_boxes

OWN_KEYS = ("bins", "style", "beam_size", "length_penalty", "max_new_tokens", "iou_threshold")


class ARefEvaluator:
  """config: dataset 'curated' (data_dir: held-out shards whose json carries `regions`), bins and style (as the
  run's LocCa boxes: default 500, 'loc'), beam_size (1: greedy), length_penalty, max_new_tokens (default 8
  for 'loc' pieces, 24 for integer text), iou_threshold (default 0.5).

  One query per (image, distinct region text), prompted `aref: {text} :` as in training;
  the decoded continuation is parsed as a box (locca_boxes.parse_box), and it is right when
  its IoU with a box of that text in the image reaches the threshold (a text naming two
  objects accepts either). Boxes are cleaned as the trainer cleans them. A continuation
  that does not parse is a miss with IoU 0.

  Yields accuracy (Acc@iou_threshold), mean_iou, parse_failure_rate, and the trivial
  baseline that answers every query with the mean box of the eval regions:
  baseline_accuracy, baseline_mean_iou; then queries and examples (images with regions).
  """

  def __init__(self, config: Mapping[str, Any], *, data_root: str, cache: dict | None = None):
    common.unknown_keys(config, OWN_KEYS)
    self.common = common.Common.parse(config)
    self.every_steps = self.common.every_steps
    self.bins = int(config.get("bins") or locca_boxes.DEFAULT_BINS)
    self.style = str(config.get("style") or "loc")
    if self.style not in locca_boxes.STYLES:
      raise ValueError(f"aref eval: style must be one of {locca_boxes.STYLES}, got {self.style!r}")
    self.beam_size = int(config.get("beam_size") or 1)
    self.length_penalty = float(config.get("length_penalty") or 0.0)
    # Targets tokenise as the word-start piece, four coordinates and EOS: 6 <loc> tokens, or up to 17 digit bytes.
    self.max_new_tokens = int(config.get("max_new_tokens") or (8 if self.style == "loc" else 24))
    self.iou_threshold = float(config.get("iou_threshold") or 0.5)
    ds = self.common.load(data_root, cache)
    if not hasattr(ds, "regions"):
      raise ValueError(f"aref eval: {ds.name} carries no regions (dataset 'curated' reads them from shards)")
    self.dataset = ds
    self.query_image, self.query_text, self.truths = queries(ds.regions)
    if not self.query_text:
      raise ValueError(f"aref eval: no valid regions in {ds.name}")
    self.mean_box = np.concatenate(self.truths).mean(axis=0)

  def run(self, model: Any) -> Iterator[tuple[str, float]]:
    model = require_captioner(model, "aref")
    n = len(self.query_text)
    iou, failed = np.zeros(n), np.zeros(n, bool)
    start = 0
    for batch in common.image_batches(self.dataset, model.image_size, self.common.batch_size):
      rows = np.flatnonzero((self.query_image >= start) & (self.query_image < start + len(batch)))
      if len(rows):
        boxes, parsed = decode_boxes(model, batch, [self.query_text[j] for j in rows], bins=self.bins,
                                     style=self.style, max_new_tokens=self.max_new_tokens, beam_size=self.beam_size,
                                     length_penalty=self.length_penalty, image_index=self.query_image[rows] - start)
        for j, box, ok in zip(rows, boxes, parsed, strict=True):
          failed[j] = not ok
          iou[j] = float(metrics.box_iou(box, self.truths[j]).max()) if ok else 0.0
      start += len(batch)
    base = np.array([metrics.box_iou(self.mean_box, t).max() for t in self.truths])
    yield "accuracy", float(np.mean(iou >= self.iou_threshold))
    yield "mean_iou", float(iou.mean())
    yield "parse_failure_rate", float(failed.mean())
    yield "baseline_accuracy", float(np.mean(base >= self.iou_threshold))
    yield "baseline_mean_iou", float(base.mean())
    yield "queries", float(n)
    yield "examples", float(len(set(self.query_image.tolist())))


def decode_boxes(model: CaptioningModel, images: np.ndarray, texts: Sequence[str], *, bins: int, style: str,
                 max_new_tokens: int, beam_size: int = 1, length_penalty: float = 0.0,
                 image_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """A captioner's boxes for referring texts -> (float [Q, 4] boxes, bool [Q] parsed): `aref: {text} :` forced as
  each row's prefix (whatever its length), the continuation parsed as a box (locca_boxes.parse_box).

  Text q asks about images[image_index[q]] (default: image q). A continuation that holds
  no valid box gives parsed False and a zero box.
  """
  texts = model.continue_prompts(images, [locca_boxes.aref_prompt(t) for t in texts], max_new_tokens=max_new_tokens,
                                 beam_size=beam_size, length_penalty=length_penalty, image_index=image_index)
  boxes, parsed = np.zeros((len(texts), 4)), np.zeros(len(texts), bool)
  for i, text in enumerate(texts):
    box = locca_boxes.parse_box(text, bins, style)
    if box is not None:
      boxes[i], parsed[i] = box, True
  return boxes, parsed


def queries(regions: Any) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
  """(image of each query int [Q], its region text, its truth boxes float [M, 4]) from each example's regions.

  Regions are kept as locca_boxes.region_tasks keeps them: a non-empty text and a box with
  area after clipping to [0, 1]. Queries follow the examples, then first appearance.
  """
  image, texts, truths = [], [], []
  for i, example in enumerate(regions):
    kept = [r for r in example if str(r.get("text", "")).strip() and len(r.get("box", ())) == 4]
    if not kept:
      continue
    boxes, valid = locca_boxes.clean_boxes(np.array([r["box"] for r in kept], np.float64))
    by_text: dict[str, list[np.ndarray]] = {}
    for r, box, ok in zip(kept, boxes, valid, strict=True):
      if ok:
        by_text.setdefault(str(r["text"]).strip(), []).append(box)
    for text, found in by_text.items():
      image.append(i)
      texts.append(text)
      truths.append(np.stack(found))
  return np.asarray(image, np.int64), texts, truths
