"""Input pipeline: decoded examples/s per core from curated shards, against a bare PIL decode+resize loop, same shards, same run.

The baseline reads each tar in order in this process and does Image.open -> RGB -> resize;
the pipeline is what training uses (index, shuffle, PIL draft decode, resize, collate,
batch tokenisation, in grain worker processes). Both first run pinned to one core (grain
reads with a thread pool, and PIL releases the GIL, so unpinned in-process runs would use
every core), then the full pipeline runs unpinned with N worker processes (-1: one per core
less two, as training) and its examples/s per core is set against the bare loop's. The
default input is a fresh clean sample re-encoded as JPEG (curated shards are JPEG); the
image formats actually timed are printed.

  .venv/bin/python benchmarks/input_pipeline.py [--shards DIR] [--res 224] [--workers 2] [--examples 1500]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import tarfile
import tempfile
import time

import numpy as np
from PIL import Image

from webpairs.pretrain import input as inp
from webpairs.demo.sample import defects, writer
from webpairs.tokenizers import Tokenizer, train_tokenizer

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")


def bare_loop(paths: list[str], res: int, limit: int, formats: collections.Counter | None = None
              ) -> tuple[int, float]:
  """(images, seconds): plain PIL decode + resize of every image member, in tar order; counts their formats."""
  n, start = 0, time.perf_counter()
  for path in paths:
    with tarfile.open(path) as tar:
      for member in tar:
        if n >= limit:
          return n, time.perf_counter() - start
        if member.isfile() and member.name.lower().endswith(IMAGE_EXTS):
          with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
            if formats is not None:
              formats[img.format] += 1
            np.asarray(img.convert("RGB").resize((res, res), Image.BILINEAR))
          n += 1
  return n, time.perf_counter() - start


def to_jpeg(src: str, dst: str, quality: int = 90) -> str:
  """A copy of the shards in `src` with every image member re-encoded as JPEG (`.jpg`), the rest unchanged."""
  os.makedirs(dst, exist_ok=True)
  for name in sorted(os.listdir(src)):
    if not name.endswith(".tar"):
      continue
    with tarfile.open(os.path.join(src, name)) as tin, tarfile.open(os.path.join(dst, name), "w") as tout:
      for member in tin:
        data = tin.extractfile(member).read() if member.isfile() else None
        if data is not None and member.name.lower().endswith(IMAGE_EXTS):
          buf = io.BytesIO()
          with Image.open(io.BytesIO(data)) as img:
            img.convert("RGB").save(buf, "JPEG", quality=quality)
          data = buf.getvalue()
          member = tarfile.TarInfo(member.name.rsplit(".", 1)[0] + ".jpg")
        if data is not None:
          member.size = len(data)
          tout.addfile(member, io.BytesIO(data))
  return dst


def pipeline_rate(source: inp.CuratedSource, tok: Tokenizer, res: int, workers: int, limit: int,
                  batch: int = 32) -> tuple[int, float]:
  ds = inp.make_dataset(source, batch_size=batch, image_size=res, max_len=64, tokenizer=tok, seed=0,
                        num_workers=workers)
  it = iter(ds)
  next(it)  # worker start-up and first batch are not throughput
  n, start = 0, time.perf_counter()
  while n < limit:
    n += len(next(it)["image"])
  return n, time.perf_counter() - start


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--shards", default="", help="curated shards (folder or glob); default: a fresh clean sample")
  p.add_argument("--tokenizer", default="", help="SentencePiece model; default: trained on the shards")
  p.add_argument("--examples", type=int, default=1500, help="examples in the generated sample")
  p.add_argument("--res", type=int, default=224)
  p.add_argument("--workers", type=int, default=2, help="grain worker processes; -1: one per core less two")
  p.add_argument("--keep-format", action="store_true", help="time the generated sample's mixed formats, not JPEG")
  p.add_argument("--limit", type=int, default=1500, help="images timed per method")
  args = p.parse_args()

  with tempfile.TemporaryDirectory() as tmp:
    shards = args.shards
    if not shards:
      shards = os.path.join(tmp, "sample")
      writer.write_sample(shards, args.examples, seed=0, rates={d: 0.0 for d in defects.DEFAULT_RATES},
                          real_images_dir=None, truncated_tar=False)
      if not args.keep_format:
        shards = to_jpeg(shards, os.path.join(tmp, "jpeg"))
    tokenizer = args.tokenizer
    if not tokenizer:
      tokenizer = os.path.join(tmp, "tok")
      train_tokenizer(shards, tokenizer, 1000, num_threads=2)
    tok = Tokenizer.load(tokenizer)
    source = inp.make_source(shards, process_index=0, process_count=1)
    limit = min(args.limit, len(source))

    workers = inp.auto_workers() if args.workers < 0 else args.workers
    formats: collections.Counter = collections.Counter()
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
      base_n, base_s = bare_loop(source.paths, args.res, limit, formats)
      one_n, one_s = pipeline_rate(source, tok, args.res, 0, limit)
    finally:
      os.sched_setaffinity(0, cores)
    many_n, many_s = pipeline_rate(source, tok, args.res, workers, limit) if workers else (0, 1.0)

  base = base_n / base_s
  ncores = len(os.sched_getaffinity(0))
  out = {
      "res": args.res, "images": limit, "cores": ncores, "workers": workers, "formats": dict(formats),
      "bare_pil_one_core_per_s": round(base, 1),
      "pipeline_one_core_per_s": round(one_n / one_s, 1),
      "pipeline_over_bare_one_core": round(one_n / one_s / base, 2),
  }
  if workers:
    per_core = many_n / many_s / min(workers, ncores)
    out.update({f"pipeline_{workers}_workers_per_s": round(many_n / many_s, 1),
                "pipeline_workers_per_core_per_s": round(per_core, 1),
                "pipeline_workers_per_core_over_bare": round(per_core / base, 2)})
  print(json.dumps(out))
  print(f"{limit} images at {args.res}px, one core: bare PIL loop {base:.0f}/s, pipeline "
        f"{out['pipeline_one_core_per_s']:.0f}/s ({out['pipeline_over_bare_one_core']}x)"
        + (f"; {workers} worker processes on {ncores} cores: "
           f"{out[f'pipeline_{workers}_workers_per_s']:.0f}/s = "
           f"{out['pipeline_workers_per_core_per_s']:.0f}/s per core ({out['pipeline_workers_per_core_over_bare']}x)"
           if workers else ""))


if __name__ == "__main__":
  main()
