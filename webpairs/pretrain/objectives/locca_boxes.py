"""LocCa boxes and task strings: quantise boxes to `bins` per coordinate, write them as `<locNNNN>` pieces (or
integer text), parse them back, and build the ARef / GCap prompt-target token rows.

A box is (ymin, xmin, ymax, xmax) normalised to [0, 1] by the image's height and width:
the order PaliGemma and big_vision's LocCa write their location tokens in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from webpairs.tokenizers import Tokenizer
from webpairs.tokenizers.tokenizer import LOC_FORMAT

DEFAULT_BINS = 500
STYLES = ("loc", "int")  # <loc0012> pieces of the project tokenizer, or "12" as plain text (fallback)
_LOC = re.compile(r"<loc(\d{4})>")
_INT = re.compile(r"(?<![\w.])(\d+)(?![\w.])")


def clean_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """float [..., 4] -> (boxes clipped to [0, 1], bool [...] valid).

  Invalid: any non-finite coordinate, or no area left after clipping (ymax <= ymin or
  xmax <= xmin), which covers boxes wholly outside the image. Clipping keeps the part of
  a box that overhangs an edge, as detectors report them.
  """
  boxes = np.asarray(boxes, np.float64)
  finite = np.isfinite(boxes).all(axis=-1)
  clipped = np.clip(np.where(np.isfinite(boxes), boxes, 0.0), 0.0, 1.0)
  valid = finite & (clipped[..., 2] > clipped[..., 0]) & (clipped[..., 3] > clipped[..., 1])
  return clipped, valid


def quantize(boxes: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
  """Coordinates in [0, 1] -> int bins in [0, bins - 1]; bin k covers [k / bins, (k + 1) / bins)."""
  if bins < 1:
    raise ValueError(f"bins must be >= 1, got {bins}")
  return np.clip(np.floor(np.asarray(boxes, np.float64) * bins), 0, bins - 1).astype(np.int32)


def dequantize(bins_: np.ndarray, bins: int = DEFAULT_BINS) -> np.ndarray:
  """Bin ids -> the centres of their bins, so the error is at most half a bin (0.5 / bins)."""
  return (np.asarray(bins_, np.float64) + 0.5) / bins


def box_text(box: Sequence[float], bins: int = DEFAULT_BINS, style: str = "loc") -> str:
  """A normalised box -> '<loc0012><loc0034><loc0056><loc0078>' (style 'loc') or '12 34 56 78' ('int')."""
  if style not in STYLES:
    raise ValueError(f"style must be one of {STYLES}, got {style!r}")
  if bins > 10_000 and style == "loc":
    raise ValueError(f"<locNNNN> pieces hold at most 10000 bins, got {bins}")
  q = quantize(np.asarray(box, np.float64).reshape(4), bins)
  return "".join(LOC_FORMAT.format(int(k)) for k in q) if style == "loc" else " ".join(str(int(k)) for k in q)


def parse_box(text: str, bins: int = DEFAULT_BINS, style: str = "loc") -> np.ndarray | None:
  """The first four coordinates in decoded text -> a normalised box (bin centres), or None when the text
  holds fewer than four, one is out of range, or the box has no area."""
  pattern = _LOC if style == "loc" else _INT
  found = [int(m) for m in pattern.findall(text)[:4]]
  if len(found) < 4 or any(k >= bins for k in found):
    return None
  box = dequantize(np.array(found), bins)
  return box if box[2] > box[0] and box[3] > box[1] else None


def aref_prompt(region_text: str) -> str:
  """ARef (referring expression -> box): the decoder reads this and writes the box."""
  return f"aref: {region_text.strip()} :"


def gcap_prompt(box: Sequence[float], bins: int = DEFAULT_BINS, style: str = "loc") -> str:
  """GCap (grounded captioning, box -> region text): the decoder reads this and writes the region's text."""
  return f"gcap: {box_text(box, bins, style)} :"


def task_tokens(tokenizer: Tokenizer, prompts: Sequence[str], targets: Sequence[str], max_len: int, *,
                loss_on: str = "target") -> tuple[np.ndarray, np.ndarray]:
  """(tokens int32 [B, max_len], weights float32 [B, max_len]) for prompt + target + EOS, pad 0 after.

  tokens are the decoder's labels (its inputs are shift_right(tokens)); weights mark the
  label positions the loss counts: the target and its EOS ('target'), or every non-pad
  token ('all'). A row whose target is truncated away entirely has no weight at all.
  """
  if loss_on not in ("target", "all"):
    raise ValueError(f"loss_on must be 'target' or 'all', got {loss_on!r}")
  if len(prompts) != len(targets):
    raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
  tokens = np.zeros((len(prompts), max_len), np.int32)
  weights = np.zeros((len(prompts), max_len), np.float32)
  enc_p, enc_t = tokenizer.encode(list(prompts)), tokenizer.encode(list(targets))
  for i, (p, t) in enumerate(zip(enc_p, enc_t, strict=True)):
    row = (p + t + [tokenizer.eos_id])[:max_len]
    tokens[i, :len(row)] = row
    start = 0 if loss_on == "all" else min(len(p), max_len)
    weights[i, start:len(row)] = 1.0
  return tokens, weights


def region_tasks(tokenizer: Tokenizer, regions: Sequence[Sequence[dict]], rng: np.random.Generator, max_len: int,
                 *, bins: int = DEFAULT_BINS, style: str = "loc", loss_on: str = "target") -> dict[str, np.ndarray]:
  """One region per example (drawn from its valid ones) -> the batch fields the LocCa objective reads.

  regions: per example, the `regions = [{text, box}]` of its json. Boxes are cleaned
  (clipped, degenerate ones dropped) first; an example with no valid region gets empty
  rows with zero weight, so it adds no ARef/GCap loss. Returns aref_tokens / aref_weights /
  gcap_tokens / gcap_weights, int32 and float32 [B, max_len].
  """
  prompts: dict[str, list[str]] = {"aref": [], "gcap": []}
  targets: dict[str, list[str]] = {"aref": [], "gcap": []}
  present = np.zeros(len(regions), bool)
  for i, example in enumerate(regions):
    kept = [r for r in example if str(r.get("text", "")).strip() and len(r.get("box", ())) == 4]
    if kept:
      cleaned, valid = clean_boxes(np.array([r["box"] for r in kept], np.float64))
      kept = [(r["text"], box) for r, box, ok in zip(kept, cleaned, valid, strict=True) if ok]
    if not kept:
      for task_prompts, task_targets in zip(prompts.values(), targets.values(), strict=True):
        task_prompts.append("")
        task_targets.append("")
      continue
    text, box = kept[rng.integers(len(kept))]
    present[i] = True
    prompts["aref"].append(aref_prompt(text))
    targets["aref"].append(box_text(box, bins, style))
    prompts["gcap"].append(gcap_prompt(box, bins, style))
    targets["gcap"].append(str(text).strip())
  out: dict[str, np.ndarray] = {}
  for task, task_prompts in prompts.items():
    tokens, weights = task_tokens(tokenizer, task_prompts, targets[task], max_len, loss_on=loss_on)
    tokens[~present] = 0
    weights[~present] = 0.0
    out[f"{task}_tokens"], out[f"{task}_weights"] = tokens, weights
  return out
