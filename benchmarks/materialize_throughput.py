"""Materialize throughput: MB/s of curated shards written, against plain copies of the same bytes.

Sample shards (copied `--copies` times) are annotated and selected with no rule that
drops copies, so materialize writes every example's original bytes. Two baselines in the
same run, the I/O limit: a byte copy of the raw tars (shutil) and a tarfile loop that
reads every member and writes it to a new tar (what materialize must at least do).
Shuffle bytes per row of the materialize job (Beam counters) are printed when present.

  .venv/bin/python benchmarks/materialize_throughput.py [--examples 2000] [--copies 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import tarfile
import tempfile
import time

from webpairs.configs.curation import base_config
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.materialize import materialize as materialize_job
from webpairs.pipelines.raw import readers
from webpairs.pipelines.select import select as select_job
from webpairs.demo.sample import writer


def tar_copy(shards: list[str], out_dir: str) -> int:
  """Every member of every shard read and written to a new tar; returns bytes written."""
  os.makedirs(out_dir, exist_ok=True)
  for shard in shards:
    with tarfile.open(shard) as src, tarfile.open(os.path.join(out_dir, os.path.basename(shard)), "w") as dst:
      try:
        for member in src:
          dst.addfile(member, src.extractfile(member) if member.isfile() else None)
      except tarfile.ReadError:  # the sample plants truncated shards: copy what reads
        pass
  return sum(os.path.getsize(p) for p in glob.glob(os.path.join(out_dir, "*.tar")))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--examples", type=int, default=2000)
  parser.add_argument("--copies", type=int, default=10)
  parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  args = parser.parse_args()
  beam_args = [f"--direct_num_workers={args.workers}", "--direct_running_mode=multi_processing"]
  with tempfile.TemporaryDirectory() as tmp:
    raw = os.path.join(tmp, "raw")
    writer.write_sample(raw, args.examples, seed=1, shard_size=500)
    for path in readers.match_shards(os.path.join(raw, "*.tar")):
      for copy in range(1, args.copies):
        shutil.copyfile(path, path.replace(".tar", f"-copy{copy}.tar"))
    shards = readers.match_shards(os.path.join(raw, "*.tar"))
    raw_bytes = sum(os.path.getsize(p) for p in shards)
    annotate_job.run_annotate(os.path.join(raw, "*.tar"), os.path.join(tmp, "ann"), beam_args, show_progress=False)
    config = base_config()  # keeps every copy: the job writes all the bytes it reads
    selected = select_job.run_select(os.path.join(tmp, "ann"), config, os.path.join(tmp, "sel"), beam_args,
                                     show_progress=False)

    start = time.perf_counter()
    shutil.copytree(raw, os.path.join(tmp, "bytecopy"))
    byte_s = time.perf_counter() - start
    start = time.perf_counter()
    tar_bytes = tar_copy(shards, os.path.join(tmp, "tarcopy"))
    tar_s = time.perf_counter() - start
    start = time.perf_counter()
    manifest = materialize_job.run_materialize(os.path.join(tmp, "sel"), os.path.join(tmp, "out"),
                                               pipeline_args=beam_args, show_progress=False)
    mat_s = time.perf_counter() - start

  n = selected["written"]
  mb = manifest["bytes"] / 1e6
  print(f"{n:,} examples written ({len(shards)} raw shards, {raw_bytes / 1e6:.0f} MB raw), {args.workers} workers")
  print(f"byte copy (shutil):      {raw_bytes / 1e6 / byte_s:8.1f} MB/s ({byte_s:.1f}s)")
  print(f"tar member copy, 1 core: {tar_bytes / 1e6 / tar_s:8.1f} MB/s ({tar_s:.1f}s)")
  print(f"materialize (Beam):      {mb / mat_s:8.1f} MB/s ({mat_s:.1f}s, {mb:.0f} MB, start-up included), "
        f"{n / mat_s:.0f} examples/s")
  print(f"materialize / tar copy:  {mb / mat_s / (tar_bytes / 1e6 / tar_s):8.2f}")
  shuffle = manifest.get("shuffle")
  if shuffle:
    print(f"materialize shuffle: {shuffle['bytes_per_row']:.1f} bytes per example ({shuffle['per_row']})")


if __name__ == "__main__":
  main()
