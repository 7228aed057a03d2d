"""`webpairs curate run`: annotate -> select -> materialize -> report in one command, resumable."""

from __future__ import annotations

import hashlib
import json
import pathlib

import pyarrow.parquet as pq
import pytest

from webpairs import cli
from webpairs.pipelines.curate import run_curation
from webpairs.demo.sample import writer as sample_writer

ONE_WORKER = ["--direct_num_workers=1"]


def _digests(folder: pathlib.Path) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("raw")
  sample_writer.write_sample(out, num_examples=60, seed=3, shard_size=20)
  return out


def test_cli_run_then_resume(raw, tmp_path, capsys):
  out = tmp_path / "run"
  code = cli.main(["curate", "run", "--input", str(raw / "*.tar"), "--config", "quality", "--output", str(out),
                   "--shard-size", "8", "--no-progress", "--config.filters.min_side=100", *ONE_WORKER])
  assert code == 0
  printed = capsys.readouterr().out
  assert "report:" in printed and "materialized" in printed

  annotated = json.loads((out / "annotations" / "summary.json").read_text())
  selected = json.loads((out / "selection" / "summary.json").read_text())
  manifest = json.loads((out / "shards" / "manifest.json").read_text())
  assert annotated["examples"] == selected["input_examples"] == manifest["input_examples"] == 60
  assert selected["config"]["filters"]["min_side"] == 100 == manifest["config"]["filters"]["min_side"]
  assert manifest["kept"] + sum(manifest["reject_counts"].values()) == 60
  assert manifest["examples"] == selected["written"] == manifest["planned_copies"]
  rows = sum(pq.read_metadata(out / "shards" / s["sidecar"]).num_rows for s in manifest["shards"])
  assert rows == manifest["examples"]
  assert (out / "report.html").stat().st_size > 10_000
  assert sorted(p.name for p in (out / "report").glob("*.png")) == [
      "clusters.png", "features.png", "funnel.png", "languages.png"]

  shards = _digests(out / "shards")
  result = run_curation(str(raw / "*.tar"), "quality", str(out), ONE_WORKER, overrides=["filters.min_side=100"],
                        shard_size=8, show_progress=False)
  assert not result["select_ran"]  # same config, same annotations: the selection is reused
  assert _digests(out / "shards") == shards
  assert result["manifest"]["examples"] == manifest["examples"]

  changed = run_curation(str(raw / "*.tar"), "quality", str(out), ONE_WORKER, shard_size=8, show_progress=False)
  assert changed["select_ran"]  # min_side back to 200: select runs again
  assert changed["select"]["kept"] < selected["kept"]
  assert changed["manifest"]["examples"] == changed["select"]["written"]
  listed = {n for s in changed["manifest"]["shards"] for n in (s["name"], s["sidecar"])}
  assert {p.name for p in (out / "shards").iterdir() if p.is_file()} == listed | {"manifest.json", "sizes.json"}
