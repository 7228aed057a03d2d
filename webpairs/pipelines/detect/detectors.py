"""Detectors as Beam RunInference model handlers, for `webpairs curate detect --detector MODULE:FACTORY`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from webpairs.curation.detectors import BlobSettings, find_blobs


class ColourBlobDetector(ModelHandler[np.ndarray, PredictionResult, BlobSettings]):
  """RunInference model handler: uint8 [H, W, 3] image -> PredictionResult(image, list of regions)."""

  def __init__(self, settings: BlobSettings | None = None, *, max_batch_size: int = 16):
    # Small batches: images of any size wait in a batch, so a batch's memory stays bounded.
    super().__init__(max_batch_size=max_batch_size)
    self._settings = settings or BlobSettings()

  def load_model(self) -> BlobSettings:
    return self._settings

  def run_inference(self, batch: Sequence[np.ndarray], model: BlobSettings,
                    inference_args: Mapping[str, Any] | None = None) -> Iterable[PredictionResult]:
    del inference_args  # none to take
    return [PredictionResult(image, find_blobs(image, model), model_id="colour_blobs") for image in batch]

  def get_metrics_namespace(self) -> str:
    return "webpairs.detect.colour_blobs"

  def __repr__(self) -> str:  # the detect job's fingerprint: other settings, other region files
    return f"ColourBlobDetector({self._settings!r})"


def colour_blobs() -> ColourBlobDetector:
  """The CLI factory (`--detector webpairs.pipelines.detect.detectors:colour_blobs`): default settings."""
  return ColourBlobDetector()
