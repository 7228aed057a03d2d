"""`curate score` (Beam RunInference, one worker) against a plain JAX loop over the same examples, in one run.

Both sides do the same work per example: read the raw shard, annotate's per-example
checks, decode and resize as the trainer does, tokenise, embed in padded batches of
`--batch`, t*cos+b. The loop has no Beam, no RunInference and no parquet writing. Prints
examples/s of each (one core: --direct_num_workers=1, XLA pinned to one thread) and the ratio.
Both timings include restoring the checkpoint and compiling; the job's also Beam's start-up.

  PYTHONPATH=. .venv/bin/python benchmarks/score_throughput.py [--n 1024] [--batch 64] [--checkpoint WORKDIR]

Without --checkpoint it trains the tiny test SigLIP for one step first (not timed).
"""

from __future__ import annotations

import os

# One core for both sides: XLA's CPU thread pool and Eigen limited before jax is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from webpairs.curation import reasons  # noqa: E402
from webpairs.curation import annotate as annotate_lib  # noqa: E402
from webpairs.formats.raw import image_extension  # noqa: E402
from webpairs.pipelines.raw import readers  # noqa: E402
from webpairs.pipelines.score import score
from webpairs.pretrain.input import preprocess  # noqa: E402
from webpairs.demo.sample import writer as sample_writer  # noqa: E402


def plain_loop(shards: list[str], handler: score.TwoTowerScorer, model) -> tuple[int, np.ndarray]:
  """The same per-example work and model calls as the job, in a for loop."""
  scores, pixels, captions = [], [], []

  def flush():
    if captions:
      scores.append(handler.score(model, np.stack(pixels), captions)["score"])
      pixels.clear()
      captions.clear()

  n = 0
  for shard in shards:
    for ex in readers.read_shard(shard):
      n += 1
      status, caption = annotate_lib.precheck(ex)
      if status != reasons.OK:
        continue
      ext = image_extension(ex.members)
      pixels.append(preprocess.decode_image(ex.members[ext], handler.image_size))
      captions.append(caption)
      if len(captions) == handler.batch_size:
        flush()
  flush()
  return n, np.concatenate(scores)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--n", type=int, default=1024, help="raw examples")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--checkpoint", default=None, help="a `webpairs pretrain` workdir (default: train the tiny one)")
  args = parser.parse_args()
  tmp = pathlib.Path(tempfile.mkdtemp(prefix="score_bench_"))
  workdir = args.checkpoint
  if workdir is None:
    from tests.eval.test_inference import train_tiny  # pylint: disable=import-outside-toplevel
    workdir = str(train_tiny(tmp / "ckpt", examples=64, steps=1, ckpt_every=1))
  sample_writer.write_sample(tmp / "raw", num_examples=args.n, seed=0, shard_size=256, real_images_dir=None,
                             truncated_tar=False)
  shards = readers.match_shards([str(tmp / "raw" / "*.tar")])
  handler = score.TwoTowerScorer(workdir, batch_size=args.batch)

  start = time.perf_counter()  # both sides restore the checkpoint and compile once, inside the timing
  model = handler.load_model()
  n, loop_scores = plain_loop(shards, handler, model)
  loop_s = time.perf_counter() - start

  start = time.perf_counter()
  summary = score.run_score(shards, str(tmp / "scores"), handler, ["--direct_num_workers=1"], show_progress=False)
  job_s = time.perf_counter() - start
  assert summary["examples"] == n and summary["scored"] == len(loop_scores)

  print(f"examples: {n} raw, {len(loop_scores)} scored; model {workdir} step {handler.step}, "
        f"input {handler.image_size}px, batch {args.batch}")
  print("| side | seconds | examples/s |")
  print("|---|---:|---:|")
  print(f"| plain JAX loop | {loop_s:.2f} | {n / loop_s:.1f} |")
  print(f"| curate score (Beam, 1 worker) | {job_s:.2f} | {n / job_s:.1f} |")
  print(f"ratio curate score / plain loop: {loop_s / job_s:.2f}")


if __name__ == "__main__":
  main()
