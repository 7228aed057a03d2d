"""`annotate_batch` on one core against a naive per-example annotator, measured in one run.

Baseline: what a straightforward annotator does per example: full decode, imagehash's
phash and dhash, sha256, JSON, fastText. Prints examples/s per image format and the ratio.

  .venv/bin/python benchmarks/annotate_batch_throughput.py [--n 500] [--batch 64] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import time

import numpy as np
from PIL import Image

from webpairs.curation import annotate
from webpairs.curation import lid
from webpairs.formats.raw import RawExample

CAPTIONS = (
    "a red motorcycle standing in a garage",
    "Ein Hund läuft über eine Wiese",
    "一只狗在草地上跑",
    "Buy Winser London Wool Luxe Aran Jumper, Ivory Online at johnlewis.com",
    "Un grupo de personas caminando por la playa al atardecer",
)


def photo_like(rng: np.random.Generator, w: int, h: int) -> Image.Image:
  """Smooth shapes plus sensor-like noise: encodes like a photo, not like noise or flat colour."""
  sw, sh = max(w // 8, 2), max(h // 8, 2)
  y, x = np.mgrid[:sh, :sw].astype(np.float32)
  small = np.zeros((sh, sw, 3), np.float32)
  for _ in range(6):
    fx, fy = rng.uniform(0.02, 0.25, 2)
    phase = rng.uniform(0, 6.3, 3).astype(np.float32)
    small += np.sin(x[..., None] * fx + y[..., None] * fy + phase) * rng.uniform(10, 40)
  base = Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8))
  base = base.resize((w, h), Image.Resampling.BICUBIC)
  noise = rng.integers(-6, 7, (h, w, 3), dtype=np.int16)
  return Image.fromarray(np.clip(np.asarray(base, np.int16) + noise, 0, 255).astype(np.uint8))


def make_examples(n: int, seed: int = 0) -> list[RawExample]:
  """n examples, alternating JPEG (quality 90) and PNG, sides uniform in 256..1024."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    w, h = (int(v) for v in rng.integers(256, 1025, 2))
    buf = io.BytesIO()
    ext = "jpg" if i % 2 == 0 else "png"
    if ext == "jpg":
      photo_like(rng, w, h).save(buf, "JPEG", quality=90)
    else:  # fast zlib level: encoding speed is not what we measure, decoding barely changes
      photo_like(rng, w, h).save(buf, "PNG", compress_level=1)
    caption = CAPTIONS[i % len(CAPTIONS)]
    meta = {"url": f"https://example.com/{i}.{ext}", "caption": caption}
    out.append(RawExample(
        key=f"{i:09d}", source="bench.tar", offset=i,
        members={ext: buf.getvalue(), "txt": caption.encode(), "json": json.dumps(meta).encode()},
    ))
  return out


def naive(examples: list[RawExample], model: lid.LanguageIdentifier) -> None:
  import imagehash  # test extra; only the baseline needs it

  for ex in examples:
    data = ex.members.get("jpg") or ex.members["png"]
    hashlib.sha256(data).hexdigest()
    img = Image.open(io.BytesIO(data))
    img.load()
    str(imagehash.phash(img)), str(imagehash.dhash(img))
    json.loads(ex.members["json"])
    model.predict([ex.members["txt"].decode()])


def batched(examples: list[RawExample], model: lid.LanguageIdentifier, batch: int) -> None:
  for i in range(0, len(examples), batch):
    annotate.annotate_batch(examples[i:i + batch], model)


def _seconds(fn, *args) -> float:
  # CPU time of this process: everything here is single-threaded, and CPU time does not
  # count what other processes on a shared machine take.
  t = time.process_time()
  fn(*args)
  return time.process_time() - t


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--n", type=int, default=500)
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--profile", action="store_true", help="profile annotate_batch instead")
  args = ap.parse_args()
  examples = make_examples(args.n)
  model = lid.LanguageIdentifier()
  model.predict(["warm up"])
  if args.profile:
    prof = cProfile.Profile()
    prof.runcall(batched, examples, model, args.batch)
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return
  print(f"{args.n} examples, 256-1024 px, batch {args.batch}, one process, CPU seconds")
  total_naive = total_ours = 0.0
  for ext in ("jpg", "png"):
    subset = [ex for ex in examples if ext in ex.members]
    t_naive = _seconds(naive, subset, model)
    t_ours = _seconds(batched, subset, model, args.batch)
    total_naive, total_ours = total_naive + t_naive, total_ours + t_ours
    print(f"{ext}: naive {len(subset) / t_naive:7.1f}/s  annotate_batch {len(subset) / t_ours:7.1f}/s"
          f"  ratio {t_naive / t_ours:.2f}x")
  print(f"all: naive {args.n / total_naive:7.1f}/s  annotate_batch {args.n / total_ours:7.1f}/s"
        f"  ratio {total_naive / total_ours:.2f}x")


if __name__ == "__main__":
  main()
