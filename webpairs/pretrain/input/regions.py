"""Region annotations in the training input: parse them from the example json, move their boxes with the image's
crop, and build LocCa's ARef/GCap batch fields (locca_boxes.region_tasks) per batch.

A region is {"text": str, "box": [ymin, xmin, ymax, xmax]} normalised by the image's
height and width (the data contract of curated shards).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from webpairs.pretrain.objectives import locca_boxes
from webpairs.pretrain.input.worker_tokenizer import WorkerTokenizer
from webpairs.tokenizers import Tokenizer

_log = logging.getLogger(__name__)
# The batch fields the LocCa objective reads (locca.TASKS x tokens/weights).
FIELDS = ("aref_tokens", "aref_weights", "gcap_tokens", "gcap_weights")
LOSS_ON = ("target", "all")


def parse_regions(meta: bytes | str | Mapping[str, Any] | None) -> tuple[list[dict], bool]:
  """An example's json (bytes, text or parsed) -> (its well-formed regions, whether the json was readable).

  A missing json or `regions` key is no region and no fault. Unreadable json, a `regions`
  that is not a list, or an entry that is not {text: str, box: 4 numbers} is a fault:
  the well-formed entries are kept and the flag is False, so the caller can count it.
  """
  if meta is None:
    return [], True
  if not isinstance(meta, Mapping):
    try:
      meta = json.loads(meta)
    except (ValueError, UnicodeDecodeError):
      return [], False
    if not isinstance(meta, Mapping):
      return [], False
  raw = meta.get("regions")
  if raw is None:
    return [], True
  if not isinstance(raw, list):
    return [], False
  out = [{"text": r["text"], "box": tuple(float(v) for v in r["box"])} for r in raw if _well_formed(r)]
  return out, len(out) == len(raw)


def _well_formed(region: Any) -> bool:
  if not isinstance(region, Mapping) or not isinstance(region.get("text"), str):
    return False
  box = region.get("box")
  return (isinstance(box, list | tuple) and len(box) == 4
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in box))


def pixel_crop_to_normalised(crop: Sequence[int], width: int, height: int) -> tuple[float, float, float, float]:
  """A crop (x0, y0, x1, y1) in pixels of a width x height image -> (ymin, xmin, ymax, xmax) in [0, 1]."""
  x0, y0, x1, y1 = crop
  return y0 / height, x0 / width, y1 / height, x1 / width


def crop_boxes(boxes: np.ndarray, crop: Sequence[float], min_visible: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
  """Boxes [N, 4] in the image's normalised units -> (boxes in the crop's normalised units, bool [N] kept).

  crop is (ymin, xmin, ymax, xmax) in the image's normalised units. A box is first clipped
  to the image (the part a detector saw); it is kept when the share of that part inside
  the crop is at least min_visible and what remains has positive area after mapping by
  (b - crop origin) / crop size and clipping to [0, 1]. Non-finite boxes are dropped.
  Rows not kept hold zeros.
  """
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  cy0, cx0, cy1, cx1 = (float(v) for v in crop)
  if not (cy1 > cy0 and cx1 > cx0):
    raise ValueError(f"crop {tuple(crop)} has no area")
  finite = np.isfinite(boxes).all(axis=1)
  b = np.clip(np.where(np.isfinite(boxes), boxes, 0.0), 0.0, 1.0)
  area = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
  lo = np.maximum(b[:, :2], [cy0, cx0])
  hi = np.minimum(b[:, 2:], [cy1, cx1])
  inside = np.prod(np.maximum(hi - lo, 0), axis=1)
  size = np.array([cy1 - cy0, cx1 - cx0])
  mapped = np.clip(np.concatenate([(lo - [cy0, cx0]) / size, (hi - [cy0, cx0]) / size], axis=1), 0.0, 1.0)
  visible = np.divide(inside, area, out=np.zeros_like(area), where=area > 0)
  keep = (finite & (area > 0) & (inside > 0) & (visible >= min_visible)
          & (mapped[:, 2] > mapped[:, 0]) & (mapped[:, 3] > mapped[:, 1]))
  return np.where(keep[:, None], mapped, 0.0), keep


def crop_regions(regions: Sequence[Mapping[str, Any]], crop: Sequence[float], min_visible: float = 0.5
                 ) -> list[dict]:
  """crop_boxes on a region list: the regions still visible enough, their boxes in the crop's units."""
  if not regions:
    return []
  boxes, keep = crop_boxes(np.array([r["box"] for r in regions], np.float64), crop, min_visible)
  return [{"text": r["text"], "box": tuple(float(v) for v in box)}
          for r, box, k in zip(regions, boxes, keep, strict=True) if k]


@dataclasses.dataclass(frozen=True)
class RegionOptions:
  """How regions become LocCa task rows: box bins, `loc` pieces or `int` text, loss on the target or all."""

  bins: int = locca_boxes.DEFAULT_BINS
  style: str = "loc"
  loss_on: str = "target"
  max_len: int = 32  # tokens per task row: prompt + box (4) + EOS for ARef, prompt + text + EOS for GCap
  min_visible: float = 0.5  # share of a region that must stay inside a crop to be kept

  def __post_init__(self):
    if self.style not in locca_boxes.STYLES:
      raise ValueError(f"region style must be one of {locca_boxes.STYLES}, got {self.style!r}")
    if self.loss_on not in LOSS_ON:
      raise ValueError(f"loss_on must be one of {LOSS_ON}, got {self.loss_on!r}")
    if self.bins < 1 or self.max_len < 1:
      raise ValueError(f"bins and max_len must be >= 1, got {self.bins}, {self.max_len}")
    if not 0 <= self.min_visible <= 1:
      raise ValueError(f"min_visible must be in [0, 1], got {self.min_visible}")


def options_from_config(config: Any) -> RegionOptions:
  """RegionOptions of a training config: bins/style/loss_on from config.loss (LocCa's settings),
  max_len from config.input.region_max_len (default input.max_len), min_visible from input.region_min_visible."""
  loss, inp = config.loss, config.input
  return RegionOptions(bins=int(loss.get("bins", locca_boxes.DEFAULT_BINS)), style=str(loss.get("style", "loc")),
                       loss_on=str(loss.get("loss_on", "target")),
                       max_len=int(inp.get("region_max_len", 0) or inp.max_len),
                       min_visible=float(inp.get("region_min_visible", 0.5)))


def check_tokenizer(tokenizer: Tokenizer, options: RegionOptions) -> None:
  """Style `loc` writes <loc0000>..<loc{bins-1}>: the tokenizer must hold every one, or boxes would be spelled
  out in bytes. Raised when the input is built, not at the first batch."""
  if options.style != "loc":
    return
  try:
    tokenizer.loc_id(0)
    tokenizer.loc_id(options.bins - 1)
  except KeyError as e:
    raise ValueError(
        f"{tokenizer.name or 'the tokenizer'} lacks the <locNNNN> pieces for {options.bins} box bins ({e.args[0]}): "
        f"train one with `webpairs tokenizer train ... --loc-tokens {options.bins}`, or write boxes as integer "
        f"text (config.loss.style=int)") from None


def batch_seed(seed: int, keys: Sequence[str]) -> list[int]:
  """A seed for a batch's random choices from its example keys: a resumed run rebuilds the same batch."""
  digest = hashlib.blake2b("\n".join(keys).encode("utf-8"), digest_size=8).digest()
  return [int(seed), int.from_bytes(digest, "little")]


class RegionTasks(WorkerTokenizer):
  """grain map on batches: batch["regions"] (per example, after the crop) -> the four LocCa fields.

  One region per example is drawn with an RNG seeded by (seed, the batch's keys). The
  SentencePiece model travels as bytes and is loaded once per worker process.
  """

  def __init__(self, tokenizer: Tokenizer, options: RegionOptions, seed: int = 0):
    check_tokenizer(tokenizer, options)
    super().__init__(tokenizer)
    self.options, self.seed = options, seed

  def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
    o = self.options
    rng = np.random.default_rng(batch_seed(self.seed, batch["key"]))
    fields = locca_boxes.region_tasks(self.tokenizer, batch["regions"], rng, o.max_len, bins=o.bins, style=o.style,
                                      loss_on=o.loss_on)
    return {**{k: v for k, v in batch.items() if k != "regions"}, **fields}


class RegionFaults:
  """Counts examples whose regions were unreadable; warns for the first few, then at each power of ten."""

  def __init__(self, first: int = 5):
    self.count, self.first = 0, first

  def add(self, key: str) -> None:
    self.count += 1
    n = self.count
    if n <= self.first or math.log10(n).is_integer():
      _log.warning("%s: unreadable regions in its json, trained without them (%d such example(s) so far in this "
                   "process)", key, n)
