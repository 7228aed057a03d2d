"""Region annotations through curation: sample truth -> annotate -> curated shards, and the RunInference detect job."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import tarfile
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from tests.curation import samples
from tests.pipelines import selections, tarutil
from webpairs import cli
from webpairs.curation import annotate as annotate_lib
from webpairs.curation import reasons
from webpairs.curation import regions as regions_lib
from webpairs.eval.metrics import box_iou
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines import curate
from webpairs.pipelines.detect import detect, region_files
from webpairs.pipelines.raw import readers
from webpairs.pipelines.materialize.materialize import run_materialize
from webpairs.demo.sample import defects
from webpairs.demo.sample import regions as sample_regions
from webpairs.demo.sample import writer as sample_writer

ONE_WORKER = ["--direct_num_workers=1"]
RATES = {defects.CORRUPT_IMAGE: 0.04, defects.DECOMPRESSION_BOMB: 0.04, defects.TRUNCATED_IMAGE: 0.04,
         defects.MISSING_IMAGE: 0.04, defects.NEAR_DUP: 0.06}


def _digests(folder: pathlib.Path, pattern: str = "*") -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob(pattern)) if p.is_file()}


def _truth_regions(t: dict) -> list[dict] | None:
  """What the sample writes: regions for every drawn scene whose image decodes."""
  objects = json.loads(t["objects"])
  if not objects or t["defect"] == defects.TRUNCATED_IMAGE:
    return None
  return sample_regions.regions_from_objects(objects, t["width"], t["height"])


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("regions")
  sample_writer.write_sample(root / "raw", num_examples=60, seed=11, shard_size=20, rates=RATES,
                             real_images_dir=None)
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(root / "annotations"), ONE_WORKER, show_progress=False)
  return root


@pytest.fixture(scope="module")
def truth(root) -> dict[tuple[str, str], dict]:
  rows = pq.read_table(root / "raw" / "truth.parquet").to_pylist()
  return {(str(root / "raw" / t["shard"]), t["key"]): t for t in rows}


@pytest.fixture(scope="module")
def selection(root) -> pathlib.Path:
  selections.write_selection(root / "annotations", root / "selection", up_every=3)
  return root / "selection"


@pytest.fixture(scope="module")
def detected(root) -> dict:
  """The detect job through the CLI, with the shipped colour-blob detector."""
  rc = cli.main(["curate", "detect", "--input", str(root / "raw" / "*.tar"), "--output", str(root / "detected"),
                 "--detector", "webpairs.pipelines.detect.detectors:colour_blobs", "--no-progress", *ONE_WORKER])
  assert rc == 0
  return json.loads((root / "detected" / detect.SUMMARY_FILE).read_text())


def _annotation_rows(folder: pathlib.Path) -> dict[tuple[str, str], dict]:
  return {(r["source"], r["key"]): r for r in selections.annotation_rows(folder)}


def test_raw_json_regions_flow_into_annotation_rows(root, truth):
  rows = _annotation_rows(root / "annotations")
  assert rows.keys() == truth.keys()
  for ident, t in truth.items():
    want = _truth_regions(t)
    if t["defect"] == defects.TRUNCATED_TAR:
      continue  # its .json may be cut off with the image
    assert regions_lib.from_json(rows[ident]["regions"]) == (want or []), t["defect"]
  summary = json.loads((root / "annotations" / "summary.json").read_text())
  with_regions = [r for r in rows.values() if r["regions"]]
  assert summary["regions_examples"] == len(with_regions) > 40
  assert summary["regions_kept"] == sum(len(json.loads(r["regions"])) for r in with_regions)
  assert (summary["regions_dropped"], summary["regions_replaced"], summary["regions_dir"]) == (0, 0, None)
  meta = json.loads(pq.read_schema(next((root / "annotations").glob("annotations-*.parquet"))).metadata[b"webpairs"])
  assert meta["format"] == annotate_job.FORMAT_VERSION == 7 and meta["regions_file"] is None


def test_curated_json_and_sidecar_carry_the_regions(root, truth, selection):
  out = root / "shards"
  manifest = run_materialize(str(selection), str(out), pipeline_args=ONE_WORKER, shard_size=9,
                             show_progress=False)
  seen = with_regions = 0
  for shard in manifest["shards"]:
    with tarfile.open(out / shard["name"]) as tar:
      members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    for row in pq.read_table(out / shard["sidecar"]).to_pylist():
      want = _truth_regions(truth[(row["source"], row["source_key"])]) or []
      meta = json.loads(members[f"{row['key']}.json"])
      assert meta["regions"] == want  # the list itself, [] when none, copies (repeats) included
      assert row["regions"] == regions_lib.to_json(want)  # JSON text or null in the sidecar
      seen += 1
      with_regions += bool(want)
  assert seen == manifest["examples"] > manifest["kept"] and with_regions > 30
  assert pq.read_schema(out / manifest["shards"][0]["sidecar"]).field("regions").type == pa.string()


def test_resize_keeps_normalised_boxes(root, truth, selection):
  out = root / "resized"
  manifest = run_materialize(str(selection), str(out), pipeline_args=ONE_WORKER, shard_size=40,
                             resize=48, show_progress=False)
  rows = [r for s in manifest["shards"] for r in pq.read_table(out / s["sidecar"]).to_pylist()]
  assert rows and all(min(r["width"], r["height"]) <= 48 for r in rows)
  for row in rows:
    assert regions_lib.from_json(row["regions"]) == (_truth_regions(truth[(row["source"], row["source_key"])]) or [])


def test_exif_rotated_images_turn_their_boxes_when_resized(tmp_path):
  stored = Image.new("RGB", (120, 60), (0, 0, 0))
  stored.paste((255, 255, 255), (12, 6, 42, 21))  # x0, y0, x1, y1: box [0.1, 0.1, 0.35, 0.35]
  exif = Image.Exif()
  exif[0x0112] = 6  # shown turned 90 degrees clockwise
  jpeg = samples.encode(stored, "JPEG", quality=95, exif=exif.tobytes())
  meta = {"url": "https://example.com/r.jpg", "regions": [{"text": "white box", "box": [0.1, 0.1, 0.35, 0.35]}]}
  (tmp_path / "in").mkdir()
  (tmp_path / "in" / "r.tar").write_bytes(tarutil.tar_bytes(
      [("r.jpg", jpeg), ("r.json", json.dumps(meta).encode()), ("r.txt", b"a white box on black")]))
  annotate_job.run_annotate(str(tmp_path / "in" / "*.tar"), str(tmp_path / "ann"), ONE_WORKER, show_progress=False)
  selections.write_selection(tmp_path / "ann", tmp_path / "sel", up_every=100)
  manifest = run_materialize(str(tmp_path / "sel"), str(tmp_path / "out"), pipeline_args=ONE_WORKER, resize=30,
                             show_progress=False)
  assert [s["repeats"] for s in manifest["shards"]] == [False, True]  # the first copy and its repeat
  for shard in manifest["shards"]:
    (row,) = pq.read_table(tmp_path / "out" / shard["sidecar"]).to_pylist()
    (region,) = regions_lib.from_json(row["regions"])
    assert region["box"] == [0.1, 0.65, 0.35, 0.9] == regions_lib.orient_box([0.1, 0.1, 0.35, 0.35], 6)
    with tarfile.open(tmp_path / "out" / shard["name"]) as tar:
      pixels = np.asarray(Image.open(io.BytesIO(tar.extractfile(f"{row['key']}.jpg").read())))[..., 0]
    ys, xs = np.nonzero(pixels > 128)  # the white box is where the turned box says
    h, w = pixels.shape
    assert (h, w) == (60, 30)
    got = [ys.min() / h, xs.min() / w, (ys.max() + 1) / h, (xs.max() + 1) / w]
    assert np.abs(np.array(got) - region["box"]).max() <= 1.5 / w


def test_raw_parquet_regions_columns_reach_annotate(tmp_path):
  jpeg = samples.encode(samples.photo(0, 64, 48), "JPEG")
  region = {"text": "a thing", "box": [0.0, 0.25, 0.5, 0.75]}
  as_list = pa.table({"url": ["u0", "u1"], "caption": ["a photo", "a photo"], "jpg": [jpeg, jpeg],
                      "regions": [[region], None]})
  as_text = pa.table({"url": ["u0", "u1"], "caption": ["a photo", "a photo"], "jpg": [jpeg, jpeg],
                      "regions": [json.dumps([region]), '[{"text": 5}]']})
  for name, table in (("list.parquet", as_list), ("text.parquet", as_text)):
    pq.write_table(table, tmp_path / name)
    exs = list(readers.read_shard(str(tmp_path / name)))
    stats = {}
    rows = annotate_lib.annotate_batch(exs, _Lid(), stats=stats)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert regions_lib.from_json(rows[0]["regions"]) == [region] and rows[1]["regions"] is None
    assert stats["regions_dropped"] == (1 if name == "text.parquet" else 0)


class _Lid:
  """Language ID stand-in: the parquet test checks regions, not languages."""

  def predict(self, captions):
    return [("en", 0.9)] * len(captions)



def _detector_rows(folder: pathlib.Path, shard: str) -> list[dict]:
  return pq.read_table(region_files.regions_path(str(folder), shard)).to_pylist()


def test_detect_job_writes_a_row_per_example_and_never_crashes_on_bad_images(root, truth, detected):
  shards = readers.match_shards(str(root / "raw" / "*.tar"))
  assert sorted(p.name for p in (root / "detected").glob("regions-*.parquet")) == sorted(
      pathlib.Path(region_files.regions_path(str(root / "detected"), s)).name for s in shards)
  errors = {}
  for shard in shards:
    rows = _detector_rows(root / "detected", shard)
    expected = [t for (source, _), t in truth.items() if source == shard]
    assert [(r["offset"], r["key"]) for r in rows] == [(t["offset"], t["key"]) for t in expected]
    for r, t in zip(rows, expected):
      errors[t["defect"]] = r["error"]
      assert (r["regions"] is None) == (r["error"] is not None)
  assert errors[defects.CORRUPT_IMAGE] == reasons.CORRUPT_IMAGE
  assert errors[defects.DECOMPRESSION_BOMB] == reasons.DECOMPRESSION_BOMB
  assert errors[defects.TRUNCATED_IMAGE] == reasons.TRUNCATED_IMAGE
  assert errors[defects.MISSING_IMAGE] == reasons.MISSING_IMAGE
  assert errors[defects.TRUNCATED_TAR] == reasons.TRUNCATED_TAR
  assert errors[defects.NONE] is None
  assert detected["examples"] == len(truth) == 60 and detected["shards"] == 3
  assert detected["undecodable"] == sum(detected[k] for k in detected if k.startswith("error/"))
  assert detected["detected"] == len(truth) - detected["undecodable"] and detected["detector_failed"] == 0


def test_colour_blob_detector_finds_the_sample_shapes(root, truth, detected):
  del detected
  hits = total = isolated_hits = isolated = found = correct = 0
  for shard in readers.match_shards(str(root / "raw" / "*.tar")):
    for r in _detector_rows(root / "detected", shard):
      want = _truth_regions(truth[(shard, r["key"])])
      if not want or r["regions"] is None:
        continue
      got = json.loads(r["regions"])
      match = [[g["text"].split()[0] == w["text"].split()[0] and box_iou(g["box"], w["box"]) >= 0.5 for g in got]
               for w in want]
      for i, w in enumerate(want):
        alone = not any(box_iou(w["box"], o["box"]) > 0 for j, o in enumerate(want) if j != i)
        hits += any(match[i])
        total += 1
        isolated_hits += alone and any(match[i])
        isolated += alone
      found += len(got)
      correct += sum(any(m[k] for m in match) for k in range(len(got)))
  # Measured on this sample: recall 95/99 (60/62 on shapes whose box touches no other), precision 95/126.
  assert total > 80 and isolated > 40
  assert hits / total >= 0.8 and isolated_hits / isolated >= 0.85 and correct / found >= 0.6, (
      hits, total, isolated_hits, isolated, correct, found)


def test_detect_rerun_is_identical_and_resumes_shard_by_shard(root, detected, tmp_path):
  del detected
  first = root / "detected"
  kept = sorted(first.glob("regions-*.parquet"))[1:]
  for p in kept:
    (tmp_path / p.name).write_bytes(p.read_bytes())
  mtimes = {p.name: (tmp_path / p.name).stat().st_mtime_ns for p in kept}
  time.sleep(0.01)
  summary = detect.run_detect(str(root / "raw" / "*.tar"), str(tmp_path), detect.load_detector(
      "webpairs.pipelines.detect.detectors:colour_blobs"), ONE_WORKER, show_progress=False)
  assert {p.name: (tmp_path / p.name).stat().st_mtime_ns for p in kept} == mtimes
  assert _digests(tmp_path) == _digests(first)
  assert summary["examples"] == 60


def test_annotate_regions_dir_replaces_the_raw_regions(root, truth, detected, capsys):
  del detected
  out = root / "annotations_detected"
  rc = cli.main(["curate", "annotate", "--input", str(root / "raw" / "*.tar"), "--output", str(out),
                 "--regions", str(root / "detected"), "--no-progress", *ONE_WORKER])
  assert rc == 0 and "malformed dropped" in capsys.readouterr().out
  rows = _annotation_rows(out)
  replaced = 0
  for shard in readers.match_shards(str(root / "raw" / "*.tar")):
    for r in _detector_rows(root / "detected", shard):
      assert rows[(shard, r["key"])]["regions"] == regions_lib.to_json(regions_lib.from_json(r["regions"]))
      replaced += 1
  summary = json.loads((out / "summary.json").read_text())
  assert summary["regions_replaced"] == replaced == len(truth) and summary["regions_dir"] == str(root / "detected")
  before = _annotation_rows(root / "annotations")
  assert sum(rows[k]["regions"] != before[k]["regions"] for k in rows) > 30  # detector boxes, not the truth
  meta = json.loads(pq.read_schema(next(out.glob("annotations-*.parquet"))).metadata[b"webpairs"])
  assert len(meta["regions_file"]) == 64  # sha256 of the region file used
  # The same region files: a rerun keeps every shard. None: the shards are annotated again, raw regions back.
  mtimes = {p: p.stat().st_mtime_ns for p in out.glob("annotations-*.parquet")}
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(out), ONE_WORKER, show_progress=False,
                            regions_dir=str(root / "detected"))
  assert {p: p.stat().st_mtime_ns for p in out.glob("annotations-*.parquet")} == mtimes
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(out), ONE_WORKER, show_progress=False)
  assert _annotation_rows(out) == before


def test_curate_run_passes_regions_to_annotate(monkeypatch):
  class Called(Exception):
    pass

  def fake_run_curation(*args, **kwargs):
    raise Called(kwargs)

  monkeypatch.setattr(curate, "run_curation", fake_run_curation)
  with pytest.raises(Called) as called:
    cli.main(["curate", "run", "--input", "raw/*.tar", "--config", "raw", "--output", "out", "--regions", "det"])
  assert called.value.args[0]["regions_dir"] == "det"


class _Flaky(ModelHandler):
  """Raises on 7-pixel-high images, returns one good and one malformed region for the others."""

  def __init__(self):
    super().__init__(max_batch_size=1)

  def load_model(self):
    return None

  def run_inference(self, batch, model, inference_args=None):
    if any(img.shape[0] == 7 for img in batch):
      raise RuntimeError("cannot look at this")
    return [PredictionResult(img, [{"text": "whole", "box": [0, 0, 1, 1]}, {"text": "half", "box": [0, 0]}])
            for img in batch]


def test_detect_transform_counts_failures_and_malformed_regions(tmp_path):
  members = []
  for key, data in [("a", samples.encode(samples.photo(0, 20, 10), "PNG")),
                    ("b", samples.encode(samples.photo(1, 20, 7), "PNG")),  # the detector raises
                    ("c", b"not an image"), ("d", samples.encode(samples.photo(2, 9, 9), "JPEG"))]:
    members += [(f"{key}.png", data), (f"{key}.txt", b"x")]
  members.append(("e.txt", b"no image at all"))
  (tmp_path / "x.tar").write_bytes(tarutil.tar_bytes(members))
  shard = str(tmp_path / "x.tar")
  p = test_pipeline.TestPipeline()
  counts = p | beam.Create([shard]) | detect.DetectRegions(_Flaky(), str(tmp_path / "out"))
  assert_that(counts, equal_to([{
      "examples": 5, "detected": 2, "with_regions": 2, "regions": 2, "regions_dropped": 2, "undecodable": 2,
      "detector_failed": 1, "error/corrupt_image": 1, "error/detector_failed": 1, "error/missing_image": 1}]))
  assert _counters(p.run(), detect.METRICS_NAMESPACE) == {
      "detected": 2, "detector_failed": 1, "regions": 2, "regions_dropped": 2, "shards": 1, "undecodable": 2}
  rows = pq.read_table(region_files.regions_path(str(tmp_path / "out"), shard)).to_pylist()
  assert [(r["key"], r["error"]) for r in rows] == [
      ("a", None), ("b", "detector_failed"), ("c", "corrupt_image"), ("d", None), ("e", "missing_image")]
  assert rows[0]["regions"] == '[{"text":"whole","box":[0.0,0.0,1.0,1.0]}]' and rows[1]["regions"] is None


def _counters(result, namespace: str) -> dict[str, int]:
  result.wait_until_finish()
  found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
  return {c.key.metric.name: c.committed for c in found if c.committed}


def test_annotate_counts_malformed_regions_in_beam_counters_and_keeps_the_example(tmp_path):
  jpeg = samples.encode(samples.photo(0, 64, 48), "JPEG")
  bad = {"regions": [{"text": "ok", "box": [0, 0, 0.5, 0.5]}, {"text": "no box"}, {"text": "x", "box": [0, 0, 1]}]}
  members = [("a.jpg", jpeg), ("a.json", json.dumps(bad).encode()), ("a.txt", b"a photo of a garden"),
             ("b.jpg", jpeg), ("b.json", b'{"regions": "not a list"}'), ("b.txt", b"a photo of a garden")]
  (tmp_path / "x.tar").write_bytes(tarutil.tar_bytes(members))
  p = test_pipeline.TestPipeline()
  counts = p | beam.Create([str(tmp_path / "x.tar")]) | annotate_job.AnnotateShards(str(tmp_path / "out"))
  assert_that(counts, equal_to([{"status": {"ok": 2}, "regions": {
      "regions_examples": 1, "regions_kept": 1, "regions_dropped": 3, "regions_replaced": 0}}]))
  counters = _counters(p.run(), annotate_job.METRICS_NAMESPACE)
  assert {k: v for k, v in counters.items() if k.startswith("regions")} == {
      "regions_examples": 1, "regions_kept": 1, "regions_dropped": 3}
  rows = selections.annotation_rows(tmp_path / "out")
  assert [r["status"] for r in rows] == ["ok", "ok"]
  assert rows[0]["regions"] == '[{"text":"ok","box":[0.0,0.0,0.5,0.5]}]' and rows[1]["regions"] is None


def test_detector_factory_errors_are_clear():
  with pytest.raises(ValueError, match="MODULE:FACTORY"):
    detect.load_detector("webpairs.curation.detectors")
  with pytest.raises(TypeError, match="not an apache_beam ModelHandler"):
    detect.load_detector("builtins:list")
  assert detect.describe_detector(_Flaky()) == f"{__name__}._Flaky"


def test_cli_help_lists_detect(capsys):
  with pytest.raises(SystemExit):
    cli.main(["curate", "detect", "--help"])
  text = capsys.readouterr().out
  assert "RunInference" in text and "--detector MODULE:FACTORY" in text
