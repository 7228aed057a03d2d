"""How well does the shipped colour-blob detector find the sample's shapes? Recall and precision at IoU >= 0.5
(same colour word) on clean drawn scenes, encoded in their planned formats, against a trivial baseline that
answers the whole image for every true region. Prints one JSON line.

  .venv/bin/python benchmarks/detector_quality.py [--examples 400] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from webpairs.curation.detectors import find_blobs
from webpairs.eval.metrics import box_iou
from webpairs.demo.sample import defects, images, regions, scenes
from webpairs.demo.sample.plan import plan_sample

CLEAN = {d: 0.0 for d in defects.DEFAULT_RATES}


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--examples", type=int, default=400)
  p.add_argument("--seed", type=int, default=7)
  args = p.parse_args()
  plan = plan_sample(args.examples, args.seed, shard_size=args.examples, rates=CLEAN, truncated_tar=False)
  hits = total = correct = found = baseline_hits = 0
  seconds = 0.0
  for ex in plan.examples:
    if ex.scene is None or not ex.objects:
      continue
    data = images.encode(scenes.render(ex.scene), ex.image_format, ex.quality)
    pixels = np.asarray(images.decode(data).convert("RGB"))
    start = time.perf_counter()
    got = find_blobs(pixels)
    seconds += time.perf_counter() - start
    want = regions.regions_from_objects(ex.objects, pixels.shape[1], pixels.shape[0])
    colour = lambda r: r["text"].split()[0]
    match = [[colour(g) == colour(w) and box_iou(g["box"], w["box"]) >= 0.5 for g in got] for w in want]
    hits += sum(any(m) for m in match)
    total += len(want)
    correct += sum(any(m[k] for m in match) for k in range(len(got)))
    found += len(got)
    baseline_hits += sum(box_iou([0.0, 0.0, 1.0, 1.0], w["box"]) >= 0.5 for w in want)
  recall = hits / max(total, 1)
  baseline = baseline_hits / max(total, 1)
  print(json.dumps({
      "examples": args.examples, "regions": total, "recall": round(recall, 3),
      "precision": round(correct / max(found, 1), 3), "whole_image_baseline_recall": round(baseline, 3),
      "recall_vs_baseline": round(recall / baseline, 1) if baseline else None,
      "ms_per_image": round(1000 * seconds / max(1, sum(1 for e in plan.examples if e.scene is not None)), 1)}))


if __name__ == "__main__":
  main()
