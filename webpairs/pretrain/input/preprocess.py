"""Per-example image decode, resize and crop, and per-batch tokenisation; they run in grain's worker processes."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from webpairs.formats import images
from webpairs.pretrain.input.regions import crop_regions, pixel_crop_to_normalised
from webpairs.pretrain.input.worker_tokenizer import WorkerTokenizer
from webpairs.tokenizers import Tokenizer

AUGMENTS = ("none", "inception_crop")
# Inception crop (tf.image.sample_distorted_bounding_box as big_vision uses it).
_ASPECT = (3 / 4, 4 / 3)
_ATTEMPTS = 10
# PIL's process-wide pixel limit is left alone: curated shards passed annotate's bomb check,
# and changing a global at import would change other code's behaviour (annotate's details).

_log = logging.getLogger(__name__)


def inception_box(rng: np.random.Generator, width: int, height: int, min_area: float) -> tuple[int, int, int, int]:
  """A random (x0, y0, x1, y1) covering [min_area, 1] of the image at aspect 3/4..4/3; the whole image if none fits."""
  area = width * height
  for _ in range(_ATTEMPTS):
    target = area * rng.uniform(min_area, 1.0)
    aspect = math.exp(rng.uniform(math.log(_ASPECT[0]), math.log(_ASPECT[1])))
    w = int(round(math.sqrt(target * aspect)))
    h = int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      x0 = int(rng.integers(0, width - w + 1))
      y0 = int(rng.integers(0, height - h + 1))
      return x0, y0, x0 + w, y0 + h
  return 0, 0, width, height


def decode_image(data: bytes, size: int, *, rng: np.random.Generator | None = None, min_area: float = 1.0
                 ) -> np.ndarray:
  """Image bytes -> uint8 [size, size, 3]: optional inception crop, then a plain (aspect-changing) resize.

  JPEGs are decoded at reduced scale (PIL draft mode: DCT scaling by 1/2, 1/4 or 1/8) when
  the image is still at least as large as the part we keep needs, which makes big photos
  several times cheaper.
  """
  return decode_with_crop(data, size, rng=rng, min_area=min_area)[0]


def decode_with_crop(data: bytes, size: int, *, rng: np.random.Generator | None = None, min_area: float = 1.0
                     ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
  """decode_image, and the part of the picture it kept as (ymin, xmin, ymax, xmax) in [0, 1].

  The crop is drawn in pixels of the decoded (possibly draft-scaled) image; normalised by
  that image's size it holds for the original to within a draft pixel, so boxes in the
  original's normalised units map through it.
  """
  with Image.open(io.BytesIO(data)) as img:
    if img.format == "JPEG":
      # The crop must still cover `size` pixels after DCT scaling.
      need = int(math.ceil(size / math.sqrt(min_area))) if rng is not None else size
      img.draft("RGB", (need, need))
    img = images.upright_rgb(img)
  window = (0.0, 0.0, 1.0, 1.0)
  if rng is not None and min_area < 1.0:
    box = inception_box(rng, img.width, img.height, min_area)
    window = pixel_crop_to_normalised(box, img.width, img.height)
    img = img.crop(box)
  if img.size != (size, size):
    img = img.resize((size, size), Image.BILINEAR)
  return np.asarray(img, np.uint8), window


class DecodeImage:
  """grain random map: element["image"] bytes -> uint8 array; None (filtered out) when the bytes do not decode.

  An element with `regions` gets them through the same crop (regions.crop_regions: boxes in
  the crop's units, those under min_visible of their area inside it dropped). There are
  no flips: a flip would have to swap the boxes' x coordinates and the texts' left/right.
  """

  def __init__(self, size: int, augment: str = "none", min_area: float = 0.5, min_visible: float = 0.5):
    if augment not in AUGMENTS:
      raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    if not 0 < min_area <= 1:
      raise ValueError(f"crop min_area must be in (0, 1], got {min_area}")
    self.size = size
    self.augment = augment
    self.min_area = min_area
    self.min_visible = min_visible

  def __call__(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
    crop = self.augment == "inception_crop"
    try:
      image, window = decode_with_crop(element["image"], self.size, rng=rng if crop else None,
                                       min_area=self.min_area if crop else 1.0)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
      # Curated shards hold validated images; one bad member must not end a long run.
      _log.warning("skipping %s: image does not decode (%s)", element.get("key"), e)
      return None
    if "regions" in element:
      return {**element, "image": image, "regions": crop_regions(element["regions"], window, self.min_visible)}
    return {**element, "image": image}


def collate(elements: Sequence[dict[str, Any]]) -> dict[str, Any]:
  """Stack images; keep captions, keys and any regions as lists (tokenised per batch next)."""
  out = {
      "image": np.stack([e["image"] for e in elements]),
      "caption": [e["caption"] for e in elements],
      "key": [e["key"] for e in elements],
  }
  if "regions" in elements[0]:
    out["regions"] = [e["regions"] for e in elements]
  return out


class TokenizeBatch(WorkerTokenizer):
  """grain map on batches: captions -> int32 [B, max_len] with sticky EOS and pad 1 (SigLIP's contrastive text).

  The SentencePiece model travels as bytes and is loaded once per worker process.
  """

  def __init__(self, tokenizer: Tokenizer, max_len: int, *, lower: bool = False, keep_captions: bool = False):
    super().__init__(tokenizer)
    self.max_len = max_len
    self.lower = lower
    self.keep_captions = keep_captions

  def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
    text = self.tokenizer.tokenize(batch["caption"], self.max_len, eos="sticky", pad_value=1, lower=self.lower)
    # Other array fields (LocCa's region rows, built before this map) pass through.
    out = {k: v for k, v in batch.items() if k not in ("caption", "key", "regions")}
    out["text"] = text
    if self.keep_captions:
      out["caption"], out["key"] = batch["caption"], batch["key"]
    return out
