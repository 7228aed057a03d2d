"""No temp files after a successful job, also after an earlier disk-full failure and a killed run."""

from __future__ import annotations

import errno
import os

import pytest

from tests.pipelines.tarutil import tar_bytes
from webpairs.formats import annotation_files, files
from webpairs.pipelines.annotate import annotate as annotate_job

ONE_WORKER = ["--direct_num_workers=1"]  # in this process, so the full disk below applies


class _FullDisk:
  """files.create whose streams fail with ENOSPC after `room` bytes, as a full disk does."""

  def __init__(self, create, room: int):
    self._create, self.room = create, room

  def __call__(self, path, *args, **kwargs):
    stream = self._create(path, *args, **kwargs)
    write, disk = stream.write, self

    def full_write(data):
      disk.room -= len(data)
      if disk.room < 0:
        write(data[:len(data) + disk.room])  # the partial write a full disk leaves behind
        raise OSError(errno.ENOSPC, "No space left on device")
      return write(data)

    stream.write = full_write
    return stream


def test_disk_full_then_rerun_leaves_no_temp_files(tmp_path, monkeypatch):
  raw = tmp_path / "raw"
  raw.mkdir()
  for i in range(3):
    (raw / f"{i:05d}.tar").write_bytes(tar_bytes([(f"{i}.txt", b"a caption " * 400)]))
  out = tmp_path / "out"
  # A run killed earlier left a partial file; its mtime is older than the next job.
  (out / files.TMP_DIR).mkdir(parents=True)
  killed = out / files.TMP_DIR / "annotations-00000-deadbeef.parquet.0123"
  killed.write_bytes(b"PAR1 partial")
  os.utime(killed, (1, 1))

  monkeypatch.setattr(files, "create", _FullDisk(files.create, room=2000))
  with pytest.raises(Exception, match="No space left on device"):
    annotate_job.run_annotate(str(raw / "*.tar"), str(out), ONE_WORKER, show_progress=False)
  assert sorted(p.name for p in (out / files.TMP_DIR).iterdir()) == [killed.name]  # the failed write cleaned up
  monkeypatch.undo()

  summary = annotate_job.run_annotate(str(raw / "*.tar"), str(out), ONE_WORKER, show_progress=False)
  assert summary["examples"] == 3
  assert not list((out / files.TMP_DIR).iterdir())
  assert sorted(p.name for p in out.iterdir() if p.suffix == ".parquet") == sorted(
      os.path.basename(annotation_files.annotation_path(str(out), str(raw / f"{i:05d}.tar"))) for i in range(3))


def test_young_temp_files_of_a_concurrent_job_are_kept(tmp_path):
  tmp = tmp_path / files.TMP_DIR
  tmp.mkdir()
  (tmp / "old").write_bytes(b"x")
  os.utime(tmp / "old", (100, 100))
  (tmp / "young").write_bytes(b"y")
  os.utime(tmp / "young", (300, 300))
  assert files.remove_stale_tmp(str(tmp_path), started=200) == 1
  assert [p.name for p in tmp.iterdir()] == ["young"]
  assert files.remove_stale_tmp(str(tmp_path / "nothing"), started=200) == 0
