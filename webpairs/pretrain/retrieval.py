"""Image<->text retrieval on held-out curated shards: R@k both ways, with the chance level of R@1."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from webpairs.pretrain import sharding
from webpairs.pretrain.input import pipeline
from webpairs.tokenizers import Tokenizer

EmbedFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def recall_at_k(zimg: np.ndarray, ztxt: np.ndarray, text_ids: np.ndarray, ks: Sequence[int] = (1, 5)
                ) -> dict[str, float]:
  """img2txt and txt2img R@k for paired rows; a retrieved item counts when its caption is the query's.

  Identical captions (same tokens) share a text id: retrieving the twin of the right
  caption is not a miss, and chance accounts for it.
  """
  sims = zimg.astype(np.float32) @ ztxt.astype(np.float32).T
  n = len(text_ids)
  same = text_ids[:, None] == text_ids[None, :]
  out = {}
  for k in ks:
    k = min(k, n)
    top_txt = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # per image, its k best texts
    top_img = np.argpartition(-sims.T, k - 1, axis=1)[:, :k]  # per text, its k best images
    out[f"img2txt_r{k}"] = float(np.mean(np.take_along_axis(same, top_txt, axis=1).any(axis=1)))
    out[f"txt2img_r{k}"] = float(np.mean(np.take_along_axis(same, top_img, axis=1).any(axis=1)))
  out["chance_r1"] = float(same.sum(axis=1).mean() / n)
  return out


class RetrievalEvaluator:
  """Loads up to `max_examples` held-out pairs once; `run(embed)` yields (metric, value).

  Every host loads the same examples (the set is small), so results are identical
  everywhere; batches are split over the mesh's data axis.
  """

  def __init__(self, shards: str, *, tokenizer: Tokenizer, image_size: int, max_len: int, mesh: Mesh,
               batch_size: int = 256, max_examples: int = 1000, lower: bool = False):
    source = pipeline.make_source(shards, process_index=0, process_count=1)
    ds = pipeline.make_dataset(source, batch_size=batch_size, image_size=image_size, max_len=max_len,
                               tokenizer=tokenizer, train=False, lower=lower)
    images, texts = [], []
    for batch in ds:
      images.append(batch["image"])
      texts.append(batch["text"])
      if sum(len(t) for t in texts) >= max_examples:
        break
    self.images = np.concatenate(images)[:max_examples]
    self.texts = np.concatenate(texts)[:max_examples]
    _, self.text_ids = np.unique(self.texts, axis=0, return_inverse=True)
    self.text_ids = self.text_ids.reshape(-1)
    self.mesh = mesh
    devices = mesh.shape[sharding.DATA]
    self.batch_size = -(-batch_size // devices) * devices  # a multiple of the device count

  def __len__(self) -> int:
    return len(self.images)

  def _batches(self) -> Iterator[tuple[int, jax.Array, jax.Array]]:
    shard = sharding.batch_sharding(self.mesh)
    for start in range(0, len(self), self.batch_size):
      image = self.images[start:start + self.batch_size]
      text = self.texts[start:start + self.batch_size]
      n = len(image)
      pad = self.batch_size - n  # a fixed shape: one compilation for every batch
      image = np.concatenate([image, np.zeros((pad, *image.shape[1:]), image.dtype)])
      text = np.concatenate([text, np.ones((pad, text.shape[1]), text.dtype)])
      put = lambda a: jax.make_array_from_callback(a.shape, shard, lambda idx, a=a: a[idx])
      yield n, put(image), put(text)

  def run(self, embed: EmbedFn) -> Iterator[tuple[str, float]]:
    zimgs, ztxts = [], []
    for n, image, text in self._batches():
      zimg, ztxt = embed(image, text)
      # Gathered from every host's devices (a plain copy on one host).
      zimgs.append(np.asarray(multihost_utils.process_allgather(zimg, tiled=True))[:n])
      ztxts.append(np.asarray(multihost_utils.process_allgather(ztxt, tiled=True))[:n])
    scores = recall_at_k(np.concatenate(zimgs), np.concatenate(ztxts), self.text_ids)
    scores["examples"] = float(len(self))
    yield from sorted(scores.items())
