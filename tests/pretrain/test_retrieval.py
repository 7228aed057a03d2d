"""Retrieval recall: hits, duplicate captions, chance level."""

from __future__ import annotations

import numpy as np

from webpairs.pretrain.retrieval import recall_at_k


def test_perfect_and_shifted_embeddings():
  z = np.eye(6, dtype=np.float32)
  ids = np.arange(6)
  perfect = recall_at_k(z, z, ids, ks=(1, 5))
  assert perfect["img2txt_r1"] == perfect["txt2img_r1"] == 1.0
  assert perfect["chance_r1"] == 1 / 6
  # Text i lies mostly along image i+1 and a little along image i: its own image ranks second.
  ztxt = 0.9 * np.roll(z, 1, axis=1) + 0.1 * z
  shifted = recall_at_k(z, ztxt, ids, ks=(1, 2))
  assert shifted["img2txt_r1"] == shifted["txt2img_r1"] == 0.0
  assert shifted["img2txt_r2"] == shifted["txt2img_r2"] == 1.0


def test_identical_captions_count_as_the_same_text():
  zimg = np.eye(4, dtype=np.float32)
  ztxt = np.eye(4, dtype=np.float32)[[1, 0, 2, 3]]  # images 0 and 1 retrieve each other's text...
  ids = np.asarray([7, 7, 8, 9])  # ...which is the same caption
  scores = recall_at_k(zimg, ztxt, ids, ks=(1,))
  assert scores["img2txt_r1"] == scores["txt2img_r1"] == 1.0
  assert scores["chance_r1"] == (2 + 2 + 1 + 1) / 16
