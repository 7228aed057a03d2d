"""Command-line arguments of the curate jobs: every shard a shell glob expands to is read, stray words exit 2."""

from __future__ import annotations

import json

import pytest

from tests.pipelines.tarutil import tar_bytes
from webpairs import cli
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines import curate
from webpairs.pipelines.runtime import beam_args


def _shards(folder, n: int) -> list[str]:
  folder.mkdir()
  paths = []
  for i in range(n):
    path = folder / f"{i:05d}.tar"
    path.write_bytes(tar_bytes([(f"{i}{j}.txt", b"a caption") for j in range(2)]))
    paths.append(str(path))
  return paths


def test_unquoted_glob_annotates_every_shard(tmp_path, capsys):
  # `--input dir/*.tar --output out` as the shell hands it over: six paths after --input.
  paths = _shards(tmp_path / "raw", 6)
  out = tmp_path / "out"
  rc = cli.main(["curate", "annotate", "--input", *paths, "--output", str(out), "--no-progress",
                 "--direct_num_workers=1"])
  assert rc == 0
  summary = json.loads((out / "summary.json").read_text())
  assert (summary["shards"], summary["examples"], summary["inputs"]) == (6, 12, paths)
  assert "annotated 12 examples from 6 shards" in capsys.readouterr().out


@pytest.fixture()
def captured(monkeypatch) -> dict:
  calls = {}

  def fake(inputs, output_dir, pipeline_args, **kwargs):
    calls.update(inputs=inputs, output=output_dir, pipeline_args=pipeline_args)
    raise SystemExit(0)

  monkeypatch.setattr(annotate_job, "run_annotate", fake)
  return calls


def test_shard_paths_anywhere_and_comma_lists_are_inputs(captured):
  with pytest.raises(SystemExit):
    cli.main(["curate", "annotate", "--input", "a.tar,b.tar", "c.tar", "--direct_num_workers", "2",
              "--output", "out", "d.parquet", "--runner=DirectRunner", "e.tar"])
  assert captured["inputs"] == ["a.tar", "b.tar", "c.tar", "d.parquet", "e.tar"]
  assert captured["pipeline_args"] == ["--direct_num_workers", "2", "--runner=DirectRunner"]


@pytest.mark.parametrize("argv, named", [
    (["--input", "a.tar", "--output", "out", "--bogus=1"], "--bogus=1"),
    (["--input", "a.tar", "--output", "out", "--direct_num_wrkers=2"], "--direct_num_wrkers=2"),
    (["--output", "out"], "no input shards"),
])
def test_arguments_nobody_understands_exit_2_naming_them(captured, capsys, argv, named):
  with pytest.raises(SystemExit) as info:
    cli.main(["curate", "annotate", *argv])
  assert info.value.code == 2 and not captured
  assert named in capsys.readouterr().err


def test_jobs_without_shard_paths_reject_stray_words(monkeypatch, capsys):
  monkeypatch.setattr(curate, "run_curation", lambda *a, **k: pytest.fail("must not run"))
  with pytest.raises(SystemExit) as info:
    cli.main(["curate", "select", "--annotations", "ann", "--config", "raw", "--output", "out",
              "--config.filters.min_side=3", "ann2/annotations-1.parquet"])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert "arguments neither webpairs nor Beam understands: ann2/annotations-1.parquet" in err
  assert "--config.filters.min_side" not in err


def test_split_keeps_beam_flags_in_order():
  assert beam_args.split(["--direct_num_workers", "2", "x.tar", "--flink_master=h:1", "--nope", "y"]) == (
      ["--direct_num_workers", "2", "--flink_master=h:1"], ["x.tar", "y"], ["--nope"])
