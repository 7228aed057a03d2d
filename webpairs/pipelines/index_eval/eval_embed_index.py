"""`webpairs curate index-eval --checkpoint W`: an eval set's image embeddings from a two-tower checkpoint.

Images are decoded and resized exactly as `curate score` does (the trainer's plain resize),
so a pool row scored with the same checkpoint is compared like with like. Eval sets are
small: one process, in batches.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pyarrow.parquet as pq

from webpairs.curation import eval_embeddings, eval_index
from webpairs.formats import files
from webpairs.pipelines.index_eval.eval_index import match_images
from webpairs.pipelines.score.score import TwoTowerScorer

log = logging.getLogger(__name__)


def build_embedding_index(images: str, name: str, output: str, checkpoint: str, step: int | None = None, *,
                          batch_size: int = 64) -> dict:
  """Embeds every image of `images` with the checkpoint and writes the index to `output` (a .parquet, or a directory
  that gets `NAME-emb-VERSION.parquet`). Returns {"name", "version", "images", "failed", "output", ...}."""
  from webpairs.pretrain.input import preprocess  # pylint: disable=import-outside-toplevel
  eval_index.check_name(name)
  scorer = TwoTowerScorer(checkpoint, step, batch_size=batch_size)
  model = scorer.load_model()
  paths = match_images(images)
  ok_paths, pixels, failed = [], [], []
  for path in paths:
    try:
      with files.open(path) as f:
        pixels.append(preprocess.decode_image(f.read(), scorer.image_size))
      ok_paths.append(path)
    except Exception as e:  # pylint: disable=broad-except
      failed.append({"path": path, "reason": "undecodable", "detail": f"{type(e).__name__}: {e}"[:200]})
  if not ok_paths:
    raise ValueError(f"none of the {len(paths)} images of {images!r} could be decoded")
  emb = np.concatenate([model.embed_images(np.stack(pixels[i:i + batch_size]))
                        for i in range(0, len(pixels), batch_size)])
  index = eval_embeddings.make_index(name, ok_paths, emb, f"{scorer.workdir}@{scorer.step}")
  if output.endswith("/") or os.path.isdir(output):
    output = files.join(output.rstrip("/"), f"{name}-emb-{index.version}.parquet")
  files.write_parquet_atomic(output, eval_embeddings.to_table(index, {"failed": len(failed)}))
  log.info("eval embedding index %s v%s: %d images (%d failed) -> %s", name, index.version, len(index),
           len(failed), output)
  return dict(index.describe(), failed=failed, output=output)


def load_embedding_index(path: str) -> eval_embeddings.EmbeddingIndex:
  with files.open(path) as f:
    return eval_embeddings.from_table(pq.read_table(f))
