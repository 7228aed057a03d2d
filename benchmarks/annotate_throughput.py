"""Annotate throughput: the Beam job on N cores against a plain single-process loop, same input, same run.

The plain loop calls the same functions the job calls (read_shard -> annotate_batch ->
parquet per shard), so the ratio measures what Beam costs or gains per core.

  .venv/bin/python benchmarks/annotate_throughput.py [--examples 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import pyarrow as pa

from webpairs.curation.annotate import AnnotateConfig, annotate_batch
from webpairs.curation.lid import LanguageIdentifier
from webpairs.formats import files
from webpairs.formats.annotation_files import ANNOTATION_SCHEMA, annotation_path
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.raw import readers
from webpairs.demo.sample import writer


def plain_loop(shards: list[str], output_dir: str, batch_size: int) -> int:
  lid = LanguageIdentifier()
  config = AnnotateConfig()
  total = 0
  for shard in shards:
    rows = []
    for batch in annotate_job._batched(readers.read_shard(shard), batch_size):  # pylint: disable=protected-access
      rows.extend(annotate_batch(batch, lid, config))
    files.write_parquet_atomic(annotation_path(output_dir, shard),
                               pa.Table.from_pylist(rows, schema=ANNOTATION_SCHEMA))
    total += len(rows)
  return total


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--examples", type=int, default=3000)
  parser.add_argument("--shard-size", type=int, default=100)
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--batch-size", type=int, default=256)
  parser.add_argument("--copies", type=int, default=8,
                      help="the generated shards are copied this many times (cheap way to a long run)")
  args = parser.parse_args()

  with tempfile.TemporaryDirectory() as tmp:
    raw = os.path.join(tmp, "raw")
    print(f"generating {args.examples} examples ...", flush=True)
    writer.write_sample(raw, args.examples, seed=1, shard_size=args.shard_size)
    for path in readers.match_shards(os.path.join(raw, "*.tar")):
      for copy in range(1, args.copies):
        shutil.copyfile(path, path.replace(".tar", f"-copy{copy}.tar"))
    shards = readers.match_shards(os.path.join(raw, "*.tar"))

    # Fixed cost of a Beam run (worker start-up, LID load, stages) on one shard.
    start = time.perf_counter()
    annotate_job.run_annotate(shards[0], os.path.join(tmp, "warm"),
                              [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"],
                              batch_size=args.batch_size, show_progress=False)
    one_shard_s = time.perf_counter() - start

    start = time.perf_counter()
    n_plain = plain_loop(shards, os.path.join(tmp, "plain"), args.batch_size)
    plain_s = time.perf_counter() - start

    start = time.perf_counter()
    summary = annotate_job.run_annotate(
        os.path.join(raw, "*.tar"), os.path.join(tmp, "beam"),
        [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"],
        batch_size=args.batch_size, show_progress=False)
    beam_s = time.perf_counter() - start
    assert summary["examples"] == n_plain, (summary["examples"], n_plain)

  plain_rate = n_plain / plain_s
  beam_rate = n_plain / beam_s
  per_core = beam_rate / args.workers / plain_rate
  fixed_s = max(one_shard_s - plain_s / len(shards), 0.0)
  steady_rate = n_plain / max(beam_s - fixed_s, 1e-9)
  print(f"examples: {n_plain} in {len(shards)} shards")
  print(f"plain loop, 1 process:         {plain_rate:8.1f} ex/s ({plain_s:.1f}s)")
  print(f"Beam FnApiRunner, {args.workers} workers:   {beam_rate:8.1f} ex/s ({beam_s:.1f}s, start-up included)")
  print(f"Beam fixed cost (1-shard run): {fixed_s:8.1f} s")
  print(f"Beam per core / plain loop:    {per_core:8.2f}  (goal >= 0.60; start-up included)")
  print(f"  without the fixed cost:      {steady_rate / args.workers / plain_rate:8.2f}")


if __name__ == "__main__":
  main()
