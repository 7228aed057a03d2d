"""Importing webpairs must not change PIL's process-wide settings (annotate's bomb and truncation checks rely on them)."""

from __future__ import annotations

import subprocess
import sys


def test_imports_leave_pil_alone():
  # A fresh interpreter: the test process has imported everything already.
  code = (
      "import PIL.Image as I; from PIL import ImageFile;"
      "before = (I.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES);"
      "import webpairs.pipelines.annotate.annotate, webpairs.pipelines.select.select, webpairs.pipelines.materialize.materialize,"
      " webpairs.pretrain.trainer, webpairs.eval.registry, webpairs.tokenizers, webpairs.demo.sample.writer;"
      "after = (I.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES);"
      "print(before == after, before, after)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
  assert out.startswith("True"), out
