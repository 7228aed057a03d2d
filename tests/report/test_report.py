"""The curation report: numbers from the summaries, thresholds from the config, PNGs embedded."""

from __future__ import annotations

import base64
import io
import json
import pathlib
import re

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.pipelines import selections
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.report import html as report, stats as report_stats
from webpairs.pipelines.materialize.materialize import run_materialize
from webpairs.demo.sample import writer as sample_writer

ONE_WORKER = ["--direct_num_workers=1"]
CONFIG = {"name": "test", "filters": {"min_side": 200, "max_digit_ratio": 1.0, "min_words": 3, "max_words": 0,
                                      "max_symbol_ratio": 0.3}}


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("report")
  sample_writer.write_sample(root / "raw", num_examples=40, seed=5, shard_size=20)
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(root / "annotations"), ONE_WORKER, show_progress=False)
  selections.write_selection(root / "annotations", root / "selection", up_every=2)
  summary_path = root / "selection" / "summary.json"
  summary = json.loads(summary_path.read_text())
  summary_path.write_text(json.dumps(dict(summary, config=CONFIG)))
  run_materialize(str(root / "selection"), str(root / "shards"), pipeline_args=ONE_WORKER, shard_size=10,
                  show_progress=False)
  return root


def test_active_thresholds_skip_filters_that_are_off():
  assert report_stats.active_thresholds(CONFIG) == {
      "short_side": [("filters.min_side", "min", 200.0)],
      "n_words": [("filters.min_words", "min", 3.0)],
      "symbol_ratio": [("filters.max_symbol_ratio", "max", 0.3)],
  }
  assert report_stats.active_thresholds({"name": "raw"}) == {}
  assert report_stats.active_thresholds(None) == {}


def test_cluster_sizes_count_clusters_per_size():
  assert report_stats.cluster_sizes(["a", "b", "a", "c", "a", "b", None, ""]) == {1: 1, 2: 1, 3: 1}


def test_gather_reads_counts_and_kept_mask(curated):
  manifest = json.loads((curated / "shards" / "manifest.json").read_text())
  stats = report_stats.gather(str(curated / "selection"), manifest)
  sel = json.loads((curated / "selection" / "summary.json").read_text())
  funnel = dict(stats.funnel)
  assert funnel["input examples"] == sel["input_examples"] == 40
  assert funnel["kept by select"] == sel["kept"]
  assert funnel["copies (with repeats)"] == funnel["materialized"] == sel["written"]
  ok = sum(pq.read_table(p, columns=["status"]).column("status").to_pylist().count("ok")
           for p in (curated / "annotations").glob("annotations-*.parquet"))
  assert len(stats.features["kept"]) == ok and stats.features["kept"].sum() == sel["kept"]
  assert set(stats.thresholds) == {"short_side", "n_words", "symbol_ratio"}
  assert stats.langs["materialized"] == manifest["lang_counts"]
  assert stats.rows_read == 40 and not stats.sampled
  sampled = report_stats.gather(str(curated / "selection"), manifest, max_rows=10)
  assert sampled.sampled and sampled.rows_read == 20  # whole files: one annotation file of 20 rows


def test_report_is_self_contained_html_with_its_plots(curated):
  manifest = json.loads((curated / "shards" / "manifest.json").read_text())
  path = pathlib.Path(report.write_report(str(curated), str(curated / "selection"), manifest))
  page = path.read_text(encoding="utf-8")
  images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
  assert len(images) == 4
  for name, data in zip(("funnel", "languages", "clusters", "features"), images):
    png = base64.b64decode(data)
    assert png == (curated / "report" / f"{name}.png").read_bytes()
    with Image.open(io.BytesIO(png)) as img:
      assert img.format == "PNG" and img.width >= 600
  assert "<h1>Curation report: test</h1>" in page
  assert f'<td class="n">{manifest["examples"]:,}</td>' in page
  assert "min_side" in page and "src=\"http" not in page
