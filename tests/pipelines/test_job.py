"""The Beam job skeleton (pipelines/runtime/job.py) on a toy job: resume by fingerprint, OUT/.tmp cleaned only after
success, summary counts that add up over made and skipped shards, the progress line."""

from __future__ import annotations

import json
import os
import time

import apache_beam as beam
import pyarrow as pa
import pytest

from webpairs.formats import files
from webpairs.pipelines.runtime import job

ONE_WORKER = ["--direct_num_workers=1"]  # in this process


def _out(output_dir: str, shard: str) -> str:
  return os.path.join(output_dir, f"toy-{shard}.parquet")


class _ToyShardFn(beam.DoFn):
  """shard name -> counts; writes a parquet file of `rows` rows per shard unless a finished one is there."""

  def __init__(self, output_dir: str, fingerprint: str, rows: dict[str, int], fail_on: str | None = None):
    self._output_dir = output_dir
    self._fingerprint = fingerprint
    self._rows = rows
    self._fail_on = fail_on

  def process(self, shard: str):
    final = _out(self._output_dir, shard)
    done = job.finished_meta(final, False, source=shard, fingerprint=self._fingerprint)
    if done is not None:
      yield done["counts"]
      return
    if shard == self._fail_on:
      raise RuntimeError(f"toy failure on {shard}")
    n = self._rows[shard]
    counts = {"examples": n, "made": 1, f"odd/{n % 2}": n}
    meta = {"source": shard, "fingerprint": self._fingerprint, "counts": counts}
    table = pa.table({"i": list(range(n))}).replace_schema_metadata({job.FOOTER_KEY: json.dumps(meta).encode()})
    files.write_parquet_atomic(final, table)
    yield counts


def _run_toy(output_dir: str, fingerprint: str, rows: dict[str, int], *, fail_on: str | None = None,
             show_progress: bool = False) -> dict:
  shards = sorted(rows)
  run = job.Job("toy", output_dir, ONE_WORKER, show_progress=show_progress,
                progress_paths=[_out(output_dir, s) for s in shards])
  summary_path = files.join(output_dir, "summary.json")
  run.run(lambda pipeline: (pipeline
                            | beam.Create(shards)
                            | beam.ParDo(_ToyShardFn(output_dir, fingerprint, rows, fail_on))
                            | beam.CombineGlobally(lambda parts: job.sum_counts(parts, ("examples", "made")))
                            | beam.Map(lambda c: files.write_json_atomic(summary_path, {"job": "toy", **c}))))
  return run.finish("summary.json")


ROWS = {"a": 3, "b": 4, "c": 5}


def test_finished_shards_are_skipped_by_fingerprint_and_counts_add_up(tmp_path):
  out = str(tmp_path / "out")
  first = _run_toy(out, "fp1", ROWS)
  assert first["examples"] == 12 and first["made"] == 3 and first["odd/1"] == 8 and first["odd/0"] == 4
  assert first["job"] == "toy" and first["seconds"] >= 0
  written = {s: os.stat(_out(out, s)).st_mtime_ns for s in ROWS}

  time.sleep(0.01)
  again = _run_toy(out, "fp1", ROWS)  # everything finished: counts come from the footers
  assert {s: os.stat(_out(out, s)).st_mtime_ns for s in ROWS} == written
  assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in first.items() if k != "seconds"}

  os.remove(_out(out, "b"))
  with open(_out(out, "c"), "wb") as f:
    f.write(b"not parquet")  # unreadable: made again
  mixed = _run_toy(out, "fp1", ROWS)
  assert os.stat(_out(out, "a")).st_mtime_ns == written["a"]
  assert mixed["examples"] == 12 and mixed["made"] == 3

  other = _run_toy(out, "fp2", {"a": 1, "b": 4, "c": 5})  # another fingerprint: every shard made again
  assert other["examples"] == 10 and os.stat(_out(out, "a")).st_mtime_ns != written["a"]


def test_finished_meta_checks_every_expected_field(tmp_path):
  out = str(tmp_path)
  _run_toy(out, "fp1", {"a": 2})
  final = _out(out, "a")
  assert job.finished_meta(final, False, source="a", fingerprint="fp1")["counts"]["examples"] == 2
  assert job.finished_meta(final, False, source="a", fingerprint="fp2") is None
  assert job.finished_meta(final, False, source="b", fingerprint="fp1") is None
  assert job.finished_meta(final, True, source="a", fingerprint="fp1") is None  # overwrite
  assert job.finished_meta(_out(out, "zz"), False) is None
  assert job.finished_meta(final, False, source="a", extra=None) is not None  # absent equals None


def test_stale_tmp_files_are_cleaned_only_after_success(tmp_path):
  out = tmp_path / "out"
  tmp_dir = out / files.TMP_DIR
  tmp_dir.mkdir(parents=True)
  stale = tmp_dir / "toy-a.parquet.deadbeef"
  stale.write_bytes(b"left by a killed run")
  old = time.time() - 3600
  os.utime(stale, (old, old))

  with pytest.raises(Exception, match="toy failure on b"):
    _run_toy(str(out), "fp1", ROWS, fail_on="b")
  assert stale.exists()  # a failed run leaves them: it may be what someone is debugging
  assert not (out / "summary.json").exists()

  young = tmp_dir / "toy-z.parquet.cafe"  # written after the run started: maybe a concurrent job's
  summary_before = time.time()
  young.write_bytes(b"in flight")
  os.utime(young, (summary_before + 3600, summary_before + 3600))
  summary = _run_toy(str(out), "fp1", ROWS)
  assert summary["examples"] == 12
  assert not stale.exists() and young.exists()


def test_progress_line_counts_final_files(tmp_path, capsys):
  out = str(tmp_path / "out")
  _run_toy(out, "fp1", ROWS, show_progress=True)
  err = capsys.readouterr().err
  assert "toy: 3/3 shards, 12 examples" in err
  _run_toy(out, "fp1", ROWS, show_progress=True)
  assert "toy: 3/3 shards already done, resuming" in capsys.readouterr().err
  run = job.Job("toy", "gs://bucket/out", ONE_WORKER, progress_paths=["gs://bucket/out/x.parquet"])
  assert run._progress_paths is None  # pylint: disable=protected-access  # the driver cannot count remote files
