"""Hostile input costs: peak RSS of the annotate job on a gzip bomb, and a 50 MiB caption's annotate time.

Bomb: one .tar.gz whose first member inflates to --bomb-gib GiB of zeros (over the 512 MiB
member limit, so it is rejected oversized_member). The whole `webpairs curate annotate`
job runs in a child process; its peak RSS must stay under 600 MB. Baseline, same run: a
reader that lets Beam decompress the shard (what the reader did before streaming).
Caption: annotate_batch on one example with a 50 MiB caption against one with a normal caption.

  .venv/bin/python benchmarks/hostile_input.py [--bomb-gib 2] [--no-baseline]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from tests.curation import samples
from tests.pipelines.tarutil import write_gzip_bomb
from webpairs.curation import annotate, lid
from webpairs.formats.raw import RawExample

RSS_LIMIT_MB = 600
# The reader before streaming: Beam's FileSystems decompressed the .gz itself.
BEAM_DECOMPRESSION_READER = """
import sys, tarfile
from apache_beam.io.filesystems import FileSystems
with FileSystems.open(sys.argv[1]) as handle:
  for info in tarfile.open(fileobj=handle, mode="r|*"):
    if info.isfile() and info.size <= 512 << 20:
      tarfile_member = info
"""


def _peak_rss_mb(argv: list[str]) -> tuple[float, float, int]:
  """(peak RSS in MB, seconds, exit code) of a child process."""
  start = time.perf_counter()
  proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  _, status, usage = os.wait4(proc.pid, 0)
  proc.returncode = os.waitstatus_to_exitcode(status)
  err = proc.stderr.read().decode(errors="replace")
  proc.stderr.close()
  if proc.returncode != 0:
    print(err[-2000:], file=sys.stderr)
  return usage.ru_maxrss / 1024, time.perf_counter() - start, proc.returncode


def bomb(gib: float, baseline: bool) -> None:
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "00000.tar.gz")
    zeros = int(gib * (1 << 30))
    write_gzip_bomb(path, zeros, tail=[("000000.txt", b"a cat"), ("000001.jpg", samples.encode(
        samples.photo(0, 64, 48), "JPEG")), ("000001.txt", b"a dog on a red sofa")])
    size_mb = os.path.getsize(path) / 1e6
    job = [sys.executable, "-m", "webpairs.cli", "curate", "annotate", "--input", path, "--output",
           os.path.join(folder, "out"), "--no-progress", "--direct_num_workers=1"]
    rss, seconds, rc = _peak_rss_mb(job)
    verdict = "OK" if rc == 0 and rss < RSS_LIMIT_MB else "FAIL"
    print(f"gzip bomb: {zeros / 2**30:.1f} GiB member in a {size_mb:.1f} MB .tar.gz")
    print(f"  annotate job (streaming reader): peak RSS {rss:,.0f} MB in {seconds:.1f}s, exit {rc} "
          f"(limit {RSS_LIMIT_MB} MB: {verdict})")
    with open(os.path.join(folder, "out", "summary.json")) as f:
      print(f"  summary status_counts: {__import__('json').load(f)['status_counts']}")
    if baseline:
      base, base_s, base_rc = _peak_rss_mb([sys.executable, "-c", BEAM_DECOMPRESSION_READER, path])
      print(f"  baseline, reader alone with Beam's decompression: peak RSS {base:,.0f} MB in {base_s:.1f}s "
            f"(exit {base_rc})")
      print(f"  ratio (whole job / baseline reader): {rss / base:.3f}")


def caption(mib: int) -> None:
  ident = lid.LanguageIdentifier()
  jpeg = samples.encode(samples.photo(0, 64, 48), "JPEG")

  def timed(text: bytes) -> tuple[float, str]:
    ex = RawExample(key="000000001", source="s.tar", offset=0, members={"jpg": jpeg, "txt": text})
    start = time.perf_counter()
    [row] = annotate.annotate_batch([ex], ident)
    return time.perf_counter() - start, row["status"]

  timed(b"warm up the language ID and keyword lexicons")
  normal_s, normal_status = min(timed(b"a red motorcycle standing in a garage") for _ in range(5))
  huge_s, huge_status = min(timed(b"spam " * ((mib << 20) // 5)) for _ in range(3))
  print(f"{mib} MiB caption: annotate_batch {huge_s:.3f}s ({huge_status}); normal caption {normal_s * 1e3:.1f} ms "
        f"({normal_status}); ratio {huge_s / normal_s:.1f}x (limit 1 s: {'OK' if huge_s < 1 else 'FAIL'})")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--bomb-gib", type=float, default=2.0)
  parser.add_argument("--caption-mib", type=int, default=50)
  parser.add_argument("--no-baseline", action="store_true", help="skip the (memory-hungry) baseline reader")
  args = parser.parse_args()
  caption(args.caption_mib)
  bomb(args.bomb_gib, not args.no_baseline)


if __name__ == "__main__":
  main()
