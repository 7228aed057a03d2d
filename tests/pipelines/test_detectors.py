"""The colour-blob detector as a RunInference model handler: one prediction per image, a stable fingerprint."""

from __future__ import annotations

import numpy as np
import pytest
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from PIL import Image, ImageDraw

from webpairs.curation.detectors import find_blobs
from webpairs.pipelines.detect import detectors as handlers
from webpairs.demo.sample import scenes


def _canvas(width: int, height: int, colour: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
  img = Image.new("RGB", (width, height), scenes.COLOURS[colour])
  return img, ImageDraw.Draw(img)


def test_model_handler_gives_one_prediction_per_image():
  handler = handlers.colour_blobs()
  assert isinstance(handler, ModelHandler)
  assert handler.batch_elements_kwargs() == {"max_batch_size": 16}
  settings = handler.load_model()
  img, draw = _canvas(50, 50, "green")
  draw.rectangle((10, 10, 34, 34), fill=scenes.COLOURS["pink"])
  pixels = np.asarray(img)
  results = handler.run_inference([pixels, pixels[:10]], settings)
  assert [type(r) for r in results] == [PredictionResult] * 2
  assert results[0].inference == [{"text": "pink shape", "box": [0.2, 0.2, 0.7, 0.7]}]
  assert results[0].example is pixels
  assert repr(handler) == repr(handlers.colour_blobs())  # the detect job's fingerprint is stable
  with pytest.raises(ValueError, match="uint8"):
    find_blobs(np.zeros((5, 5)))
