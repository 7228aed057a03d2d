"""The annotate job end to end: accounting against planted truth, determinism, resume, portability."""

from __future__ import annotations

import hashlib
import json
import pathlib
import time

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from webpairs.balancing import keywords
from webpairs.curation import reasons
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.raw import readers
from webpairs.demo.sample import writer as sample_writer
from webpairs.formats.raw import image_extension

LOCAL_ARGS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def _read_rows(output_dir: pathlib.Path) -> list[dict]:
  rows = []
  for path in sorted(output_dir.glob("annotations-*.parquet")):
    rows.extend(pq.read_table(path).to_pylist())
  return rows


def _file_digests(output_dir: pathlib.Path) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(output_dir.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("sample")
  sample_writer.write_sample(out, num_examples=150, seed=7, shard_size=50)
  return out


@pytest.fixture(scope="module")
def annotated(sample, tmp_path_factory) -> tuple[pathlib.Path, dict]:
  out = tmp_path_factory.mktemp("annotations")
  summary = annotate_job.run_annotate(str(sample / "*.tar"), str(out), LOCAL_ARGS, show_progress=False)
  return out, summary


def test_every_input_example_has_exactly_one_row(sample, annotated):
  out, summary = annotated
  truth = pq.read_table(sample / "truth.parquet").to_pylist()
  rows = _read_rows(out)
  assert len(rows) == len(truth) == summary["examples"] == 150
  assert sorted((r["source"].rsplit("/", 1)[1], r["key"]) for r in rows) == sorted(
      (t["shard"], t["key"]) for t in truth)
  assert sum(summary["status_counts"].values()) == summary["examples"]
  assert summary["ok"] + summary["rejected"] == summary["examples"]


def test_every_planted_defect_gets_its_reason(sample, annotated):
  out, _ = annotated
  truth = {t["key"]: t for t in pq.read_table(sample / "truth.parquet").to_pylist()}
  rows = {r["key"]: r for r in _read_rows(out)}
  mismatches = [(k, t["defect"], t["expected_status"], rows[k]["status"], rows[k]["status_detail"])
                for k, t in truth.items() if rows[k]["status"] != t["expected_status"]]
  assert not mismatches
  planted = {t["defect"] for t in truth.values()}
  assert planted >= {"corrupt_image", "truncated_image", "invalid_utf8", "empty_caption", "junk_caption",
                     "decompression_bomb", "missing_image", "missing_caption", "truncated_tar", "exact_dup",
                     "near_dup"}


def test_sha256_of_rows_equals_hashlib_on_the_tar_members(sample, annotated):
  out, _ = annotated
  rows = {(r["source"], r["key"]): r for r in _read_rows(out)}
  checked = 0
  for shard in readers.match_shards(str(sample / "*.tar")):
    for ex in readers.read_shard(shard):
      image = ex.members.get(image_extension(ex.members))
      if image is not None and ex.read_error is None:
        assert rows[(shard, ex.key)]["sha256"] == hashlib.sha256(image).hexdigest()
        checked += 1
  assert checked > 100


def test_exact_duplicates_share_sha256_and_phash(sample, annotated):
  out, _ = annotated
  truth = pq.read_table(sample / "truth.parquet").to_pylist()
  rows = {r["key"]: r for r in _read_rows(out)}
  dups = [t for t in truth if t["defect"] == "exact_dup"]
  assert dups
  for t in dups:
    assert rows[t["key"]]["sha256"] == rows[t["dup_of"]]["sha256"]
    assert rows[t["key"]]["phash"] == rows[t["dup_of"]]["phash"]


def test_indicator_names_and_lexicon_are_recorded_and_fingerprinted(annotated):
  out, summary = annotated
  described = keywords.KeywordAnnotator().describe()
  assert summary["indicators"] == described
  for path in out.glob("annotations-*.parquet"):
    meta = json.loads(pq.read_schema(path).metadata[b"webpairs"])
    assert meta["indicators"] == described
    assert meta["config_fingerprint"] == annotate_job.config_fingerprint(annotate_job.AnnotateConfig())
  # Another lexicon (version or terms) must not reuse these files on resume.
  other = dict(described, lexicon_digest="0" * 16)
  assert annotate_job.config_fingerprint(annotate_job.AnnotateConfig(), other) != meta["config_fingerprint"]


def test_rerun_gives_identical_files(sample, annotated, tmp_path):
  first, _ = annotated
  annotate_job.run_annotate(str(sample / "*.tar"), str(tmp_path), ["--direct_num_workers=1"], show_progress=False)
  assert _file_digests(tmp_path) == _file_digests(first)


def test_resume_redoes_only_missing_shards(sample, annotated, tmp_path):
  first, _ = annotated
  for path in first.glob("*.parquet"):
    (tmp_path / path.name).write_bytes(path.read_bytes())
  victim = sorted(tmp_path.glob("annotations-*.parquet"))[1]
  victim.unlink()
  kept = sorted(tmp_path.glob("annotations-*.parquet"))
  mtimes = {p: p.stat().st_mtime_ns for p in kept}
  time.sleep(0.01)
  summary = annotate_job.run_annotate(str(sample / "*.tar"), str(tmp_path), ["--direct_num_workers=1"],
                                      show_progress=False)
  assert summary["examples"] == 150
  assert victim.exists()
  assert {p: p.stat().st_mtime_ns for p in kept} == mtimes
  assert _file_digests(tmp_path) == _file_digests(first)
  assert not list((tmp_path / ".tmp").glob("*")) if (tmp_path / ".tmp").exists() else True


def test_hand_broken_tar_keeps_rows_before_the_break(tmp_path):
  shards = tmp_path / "in"
  shards.mkdir()
  good = sample_writer.write_broken_tar(shards / "broken.tar", num_good=3)
  summary = annotate_job.run_annotate(str(shards / "*.tar"), str(tmp_path / "out"), ["--direct_num_workers=1"],
                                      show_progress=False)
  rows = _read_rows(tmp_path / "out")
  assert summary["examples"] == len(rows) == 4
  assert [r["key"] for r in rows[:3]] == good
  assert [r["status"] for r in rows[:3]] == ["ok"] * 3
  assert rows[3]["status"] == reasons.BROKEN_TAR
  assert summary["status_counts"] == {"ok": 3, reasons.BROKEN_TAR: 1}


def test_annotate_shards_transform_with_test_pipeline(sample, tmp_path):
  shards = readers.match_shards(str(sample / "*.tar"))
  truth = pq.read_table(sample / "truth.parquet").to_pylist()
  expected = {}
  for t in truth:
    expected[t["shard"]] = expected.get(t["shard"], 0) + 1
  with test_pipeline.TestPipeline() as p:
    counts = (p | beam.Create(shards) | annotate_job.AnnotateShards(str(tmp_path))
              | beam.Map(lambda c: sum(c["status"].values())))
    assert_that(counts, equal_to(sorted(expected.values())))


def test_portable_runner_gives_the_same_files(sample, annotated, job_service, tmp_path):
  first, _ = annotated
  args = ["--runner=PortableRunner", f"--job_endpoint={job_service}", "--environment_type=LOOPBACK"]
  summary = annotate_job.run_annotate(str(sample / "*.tar"), str(tmp_path), args, show_progress=False)
  assert summary["examples"] == 150
  assert _file_digests(tmp_path) == _file_digests(first)


def test_no_matching_input_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no files match"):
    annotate_job.run_annotate(str(tmp_path / "*.tar"), str(tmp_path / "out"), [], show_progress=False)
