"""img2dataset / DataComp output through `webpairs curate`: every URL accounted for, no wrong answer with exit 0.

The raw folder is written as img2dataset 1.47 writes it (img2dataset_layout.py): letterboxed
JPEGs (resize_mode=border), per-shard parquet with status / error_message, extra columns.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import pathlib
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from tests.curation import samples
from tests.pipelines import img2dataset_layout as i2d
from webpairs import cli
from webpairs.curation import dedup, hashes, image, reasons
from webpairs.curation.annotate import annotate_batch
from webpairs.curation.lid import LanguageIdentifier
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import logs

ONE_WORKER = ["--direct_num_workers=1"]
EXTRA = ["uid", "clip_l14_similarity_score"]
DISTINCT = 12  # different pictures, all 4:1, letterboxed into 256x256
EMOJI = "\U0001F600 lol \U0001F389"  # fastText: 'en' at 0.12, a guess
FILTERS = ["--config.filters.min_side=64", "--config.filters.max_aspect_ratio=5.0"]


def _encoded(img: Image.Image, fmt: str) -> bytes:
  buf = io.BytesIO()
  img.save(buf, fmt)
  return buf.getvalue()


def _sources() -> list[i2d.Source]:
  def src(i: int, caption: str, **kw) -> i2d.Source:
    return i2d.Source(url=f"http://127.0.0.1:8000/{i}.jpg", caption=caption,
                      extra={"uid": f"{i:032x}", "clip_l14_similarity_score": 0.20 + i / 100}, **kw)

  out = [src(i, f"a wide landscape photo number {i} with hills and a river", picture=samples.photo(i, 400, 100))
         for i in range(DISTINCT)]
  out += [
      src(20, "a tiny thumbnail of a red kitchen chair", picture=samples.photo(20, 120, 50)),  # min side 50
      src(21, "a long narrow banner of a city skyline at night", picture=samples.photo(21, 1200, 200)),  # 6:1
      src(22, "a transparent logo of a coffee shop in blue", raw_bytes=_encoded(samples.photo(22, 300, 300), "PNG")),
      src(23, "a sticker of a smiling green frog on a leaf", raw_bytes=_encoded(samples.photo(23, 300, 300), "WEBP")),
      src(24, EMOJI, picture=samples.photo(24, 300, 200)),
      src(30, "a page that is gone", error="failed_to_download: HTTP Error 404: Not Found"),
      src(31, "a page on a dead host", error="failed_to_download: <urlopen error [Errno 111] Connection refused>"),
      src(32, "an html page served as an image", error="failed_to_resize: cannot identify image file"),
  ]
  return out


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
  root = tmp_path_factory.mktemp("img2dataset")
  sources = _sources()
  i2d.write_output(root / "raw", [sources[:10], sources[10:]], extra_columns=EXTRA)
  return {"root": root, "sources": sources}


def _curate(root: pathlib.Path, monkeypatch, *args: str) -> int:
  monkeypatch.chdir(root)  # relative paths, as a user types them
  monkeypatch.setenv("WEBPAIRS_LOG_LEVEL", "WARNING")
  return cli.main(["curate", "run", "--input", "raw/*", "--config", "raw", "--output", "run", "--shard-size", "8",
                   "--no-progress", *FILTERS, *ONE_WORKER, *args])


@pytest.fixture(scope="module")
def curated(run, tmp_path_factory) -> dict:
  mp = pytest.MonkeyPatch()
  try:
    code = _curate(run["root"], mp)
  finally:
    mp.undo()
  out = run["root"] / "run"
  ann = [r for p in sorted((out / "annotations").glob("annotations-*.parquet")) for r in pq.read_table(p).to_pylist()]
  sel = [r for p in sorted((out / "selection").glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  return {"code": code, "out": out, "ann": {r["url"]: r for r in ann}, "sel": sel,
          "manifest": json.loads((out / "shards" / "manifest.json").read_text())}


def test_every_url_is_one_row_failures_included_and_sidecars_are_not_shards(run, curated):
  assert curated["code"] == 0
  summary = json.loads((curated["out"] / "annotations" / "summary.json").read_text())
  # 'raw/*' matches 2 tars, 2 img2dataset parquets and 2 _stats.json: 2 shards, one row per URL tried.
  assert summary["shards"] == 2
  assert summary["examples"] == len(run["sources"]) == len(curated["ann"]) == 20
  assert summary["status_counts"][reasons.DOWNLOAD_FAILED] == 3
  failed = {u: r for u, r in curated["ann"].items() if r["status"] == reasons.DOWNLOAD_FAILED}
  assert {r["status_detail"] for r in failed.values()} == {
      "failed_to_download: HTTP Error 404: Not Found",
      "failed_to_download: <urlopen error [Errno 111] Connection refused>",
      "failed_to_resize: cannot identify image file"}
  assert all(r["caption"] for r in failed.values())  # the caption img2dataset had is kept
  assert all(pathlib.Path(r["source"]).is_absolute() for r in curated["ann"].values())
  # Within a shard, failures come after the tar's examples.
  shard1 = sorted((r["offset"], r["status"]) for r in curated["ann"].values() if r["source"].endswith("00001.tar"))
  assert [s for _, s in shard1][-3:] == [reasons.DOWNLOAD_FAILED] * 3


def test_letterboxed_images_are_judged_by_their_original_size(run, curated):
  ann, sel = curated["ann"], {r["key"]: r for r in curated["sel"]}
  tiny, banner = ann["http://127.0.0.1:8000/20.jpg"], ann["http://127.0.0.1:8000/21.jpg"]
  assert (tiny["width"], tiny["height"], tiny["original_width"], tiny["original_height"]) == (256, 256, 120, 50)
  assert (banner["original_width"], banner["original_height"]) == (1200, 200)
  assert sel[tiny["key"]]["reason"] == "min_side" and sel[banner["key"]]["reason"] == "max_aspect_ratio"
  counts = curated["manifest"]["reject_counts"]
  assert counts["min_side"] == 1 and counts["max_aspect_ratio"] == 1


def _near_pairs(datas: list[bytes], crop: bool) -> int:
  infos = [image.inspect_image(d, crop_borders=crop) for d in datas]
  ph = hashes.phash_batch(np.stack([i.phash_pixels for i in infos]))
  dh = hashes.dhash_batch(np.stack([i.dhash_pixels for i in infos]))
  return sum(bool(dedup.is_near(hashes.hamming(ph[a], ph[b]), hashes.hamming(dh[a], dh[b]), 10))
             for a, b in itertools.combinations(range(len(infos)), 2))


def test_letterbox_bars_do_not_make_different_pictures_near_duplicates(run, curated):
  datas = [i2d.jpeg(i2d.border_resize(s.picture)) for s in run["sources"][:DISTINCT]]
  assert _near_pairs(datas, crop=False) > 0  # the white bars alone make some of them "duplicates"
  assert _near_pairs(datas, crop=True) == 0
  # ... and a re-encoded letterboxed copy is still found.
  again = i2d.jpeg(i2d.border_resize(run["sources"][0].picture), quality=70)
  assert _near_pairs([datas[0], again], crop=True) == 1
  distinct = {curated["ann"][s.url]["key"] for s in run["sources"][:DISTINCT]}
  assert all(r["keep"] for r in curated["sel"] if r["key"] in distinct)
  assert curated["manifest"]["reject_counts"].get("near_dup", 0) == 0


def test_extra_columns_and_detected_formats_reach_the_curated_shards(run, curated):
  ann = curated["ann"]
  for s in run["sources"]:
    assert json.loads(ann[s.url]["extra"]) == s.extra
  shards = curated["out"] / "shards"
  members, sidecar = {}, []
  for entry in curated["manifest"]["shards"]:
    with tarfile.open(shards / entry["name"]) as tar:
      members.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    sidecar += pq.read_table(shards / entry["sidecar"]).to_pylist()
  by_url = {r["url"]: r for r in sidecar}
  png, webp = by_url["http://127.0.0.1:8000/22.jpg"], by_url["http://127.0.0.1:8000/23.jpg"]
  assert (png["image_ext"], webp["image_ext"]) == ("png", "webp")  # stored as .jpg by img2dataset
  assert f"{png['key']}.png" in members and f"{webp['key']}.webp" in members
  assert Image.open(io.BytesIO(members[f"{png['key']}.png"])).format == "PNG"
  for row in sidecar:
    meta = json.loads(members[f"{row['key']}.json"])
    assert json.loads(row["extra"]) == {k: meta[k] for k in EXTRA}  # DataComp uid at the top level
    assert meta["uid"] == next(s.extra["uid"] for s in run["sources"] if s.url == row["url"])
  assert len(sidecar) == curated["manifest"]["examples"]


def test_sizes_json_counts_every_curated_shard(curated):
  shards = curated["out"] / "shards"
  sizes = json.loads((shards / "sizes.json").read_text())
  assert sizes == {s["name"]: s["examples"] for s in curated["manifest"]["shards"]}
  assert sum(sizes.values()) == curated["manifest"]["examples"] == 15  # 20 URLs - 3 failed - 2 filtered


def test_low_confidence_language_is_und_in_annotations_and_selection(run, curated):
  row = curated["ann"]["http://127.0.0.1:8000/24.jpg"]
  assert row["caption"] == EMOJI and row["lang"] == "und" and row["lang_score"] < 0.3
  sel = {r["key"]: r for r in curated["sel"]}
  assert sel[row["key"]]["lang"] == "und"
  assert all(r["lang"] is not None for r in curated["ann"].values())  # annotations and selection agree


def test_materialize_from_another_folder_and_nonzero_exit_when_copies_are_missing(run, curated, monkeypatch,
                                                                                   capsys):
  elsewhere = run["root"] / "elsewhere"
  elsewhere.mkdir(exist_ok=True)
  monkeypatch.chdir(elsewhere)
  base = ["curate", "materialize", "--selection", "../run/selection", "--no-progress", "--no-report", *ONE_WORKER]
  assert cli.main([*base, "--output", "all"]) == 0  # the inputs recorded by annotate are absolute
  assert cli.main([*base, "--output", "typed", "--input", "../raw/*.tar"]) == 0
  written = json.loads((elsewhere / "typed" / "manifest.json").read_text())
  assert written["examples"] == curated["manifest"]["examples"] and written["not_written"] == {}
  capsys.readouterr()
  assert cli.main([*base, "--output", "half", "--input", "../raw/00000.tar"]) == 1
  half = json.loads((elsewhere / "half" / "manifest.json").read_text())
  missing = half["not_written"]["source_not_in_input"]
  assert missing > 0 and half["examples"] + missing == curated["manifest"]["examples"]
  assert f"error: {missing} of {curated['manifest']['examples']} selected copies were not written" in \
      capsys.readouterr().err


def test_parquet_output_failures_are_download_failed_not_missing_image(tmp_path):
  sources = _sources()
  (path,) = i2d.write_output(tmp_path / "pq", [sources], output_format="parquet", extra_columns=EXTRA)
  assert readers.match_shards(str(tmp_path / "pq" / "*")) == [str(path)]
  examples = list(readers.read_shard(str(path)))
  rows = annotate_batch(examples, LanguageIdentifier())
  statuses = collections.Counter(r["status"] for r in rows)
  assert statuses[reasons.DOWNLOAD_FAILED] == 3 and statuses[reasons.MISSING_IMAGE] == 0
  assert statuses[reasons.OK] == len(sources) - 3
  by_url = {r["url"]: r for r in rows}
  assert by_url["http://127.0.0.1:8000/30.jpg"]["status_detail"] == "failed_to_download: HTTP Error 404: Not Found"
  assert json.loads(by_url["http://127.0.0.1:8000/5.jpg"]["extra"]) == sources[5].extra


def test_default_log_output_is_webpairs_only(run, tmp_path, monkeypatch, capfd):
  """Two worker processes: Beam's INFO lines and apitools warnings appear only with --log-level INFO."""
  monkeypatch.setenv("WEBPAIRS_LOG_LEVEL", "WARNING")
  shards = str(run["root"] / "raw" / "*.tar")
  args = ["curate", "annotate", "--input", shards, "--no-progress", "--direct_num_workers=2"]
  assert cli.main([*args, "--output", str(tmp_path / "quiet")]) == 0
  quiet = capfd.readouterr()
  assert "annotated 20 examples" in quiet.out
  # Measured: nothing at all on stderr (before: ~40 Beam INFO lines and 3 apitools warnings per stage).
  assert not [line for line in quiet.err.splitlines()
              if any(m in line for m in ("apache_beam", "sdk_worker", "apitools", "INFO", "semi_persistent"))]
  assert cli.main(["--log-level", "INFO", *args, "--output", str(tmp_path / "loud")]) == 0
  loud = capfd.readouterr().err
  assert "apache_beam" in loud and "sdk_worker" in loud
  logs.configure("WARNING")  # the driver's level back to the default for the tests that follow


def test_curated_shards_read_with_webdataset_and_open_clip_sizes(curated):
  """webdataset's standard pipeline decodes every sample; open_clip's sizes.json rule counts them without torch."""
  import braceexpand  # pylint: disable=import-outside-toplevel  # webdataset's own dependency

  shards = curated["out"] / "shards"
  names = [s["name"] for s in curated["manifest"]["shards"]]
  pattern = str(shards / f"shard-{{00000..{len(names) - 1:05d}}}.tar")  # as given to open_clip --train-data
  urls = list(braceexpand.braceexpand(pattern))
  # open_clip get_dataset_size: sizes.json beside the shards, summed over the expanded shard list.
  sizes = json.loads((shards / "sizes.json").read_text())
  num_samples = sum(int(sizes[pathlib.Path(u).name]) for u in urls)
  dataset = (wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode("pil")
             .map(lambda sample: dict(sample, ext=next(e for e in ("jpg", "png", "webp") if e in sample)))
             .to_tuple("jpg;png;webp", "txt", "json", "ext"))
  seen = collections.Counter()
  for img, text, meta, ext in dataset:
    assert isinstance(img, Image.Image) and img.size == (meta["width"], meta["height"])
    assert text == meta["caption"] and meta["uid"]
    seen[ext] += 1
  assert sum(seen.values()) == num_samples == curated["manifest"]["examples"] == 15
  assert seen == {"jpg": 13, "png": 1, "webp": 1}


def test_select_filters_on_a_datacomp_score_from_extra(curated, tmp_path, capsys):
  """`filters.score_column=extra.NAME` cuts on a number from the raw .json, as DataComp's CLIP-score subsets do."""
  out = tmp_path / "sel"
  assert cli.main(["curate", "select", "--annotations", str(curated["out"] / "annotations"), "--config", "raw",
                   "--output", str(out), "--no-progress", "--config.filters.score_column=extra.clip_l14_similarity_score",
                   "--config.filters.min_score_percentile=50", *ONE_WORKER]) == 0
  summary = json.loads((out / "summary.json").read_text())
  # 17 rows are ok; scores 0.20..0.31 (12 wide photos) and 0.40..0.44: the 50th percentile is the
  # 9th smallest, 0.28, so the 8 rows below it fail.
  assert summary["reason_counts"]["min_score_percentile"] == 8
  sel = [r for p in sorted(out.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  cut = {curated["ann"][f"http://127.0.0.1:8000/{i}.jpg"]["key"] for i in range(8)}
  assert {r["key"] for r in sel if r["reason"] == "min_score_percentile"} == cut


def test_tfrecord_image_format_is_the_detected_one(run, curated, tmp_path):
  tf = pytest.importorskip("tensorflow")
  from webpairs.pipelines.materialize.materialize import run_materialize  # pylint: disable=import-outside-toplevel

  manifest = run_materialize(str(curated["out"] / "selection"), str(tmp_path), pipeline_args=ONE_WORKER,
                             fmt="tfrecord", show_progress=False)
  spec = {n: tf.io.FixedLenFeature([], tf.string) for n in ("image/encoded", "image/format", "key", "extra")}
  formats = collections.Counter()
  for record in tf.data.TFRecordDataset([str(tmp_path / s["name"]) for s in manifest["shards"]]):
    ex = tf.io.parse_single_example(record, spec)
    fmt = ex["image/format"].numpy().decode()
    assert Image.open(io.BytesIO(ex["image/encoded"].numpy())).format.lower() == fmt
    assert json.loads(ex["extra"].numpy())["uid"]
    formats[fmt] += 1
  assert formats == {"jpeg": 13, "png": 1, "webp": 1}


def test_annotation_files_of_other_inputs_are_reported(run, tmp_path, caplog):
  from webpairs.pipelines.annotate.annotate import run_annotate  # pylint: disable=import-outside-toplevel

  out = tmp_path / "ann"
  out.mkdir()
  (out / "annotations-00000-0badc0de.parquet").write_bytes(b"from a run with relative paths")
  with caplog.at_level("WARNING", logger="webpairs.pipelines.annotate.annotate"):
    run_annotate(str(run["root"] / "raw" / "00000.tar"), str(out), ONE_WORKER, show_progress=False)
  assert "1 annotation files in" in caplog.text and "annotations-00000-0badc0de.parquet" in caplog.text


def test_a_metadata_parquet_read_as_a_shard_says_why_it_has_no_images(run, caplog):
  sidecar = run["root"] / "raw" / "00000.parquet"
  with caplog.at_level("WARNING", logger="webpairs.pipelines.raw.readers"):
    examples = list(readers.read_shard(str(sidecar)))
  assert len(examples) == 10 and not any(e.members.get("jpg") for e in examples)
  assert caplog.text.count("looks like img2dataset's metadata beside a tar") == 1


def test_select_keeps_a_datacomp_uid_subset(run, curated, tmp_path):
  """`filters.uid_subset=FILE.npy`: DataComp's subset format, sorted (high, low) uint64 halves of the uids."""
  wanted = [s.extra["uid"] for s in run["sources"][:DISTINCT:2]]  # 6 of the 12 wide photos
  pairs = np.array(sorted((int(u[:16], 16), int(u[16:], 16)) for u in wanted), np.dtype("u8,u8"))
  np.save(tmp_path / "subset.npy", pairs)
  out = tmp_path / "sel"
  assert cli.main(["curate", "select", "--annotations", str(curated["out"] / "annotations"), "--config", "raw",
                   "--output", str(out), "--no-progress", f"--config.filters.uid_subset={tmp_path / 'subset.npy'}",
                   *ONE_WORKER]) == 0
  sel = [r for p in sorted(out.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  uid_of = {r["key"]: json.loads(r["extra"] or "{}").get("uid") for r in curated["ann"].values()}
  assert sorted(uid_of[r["key"]] for r in sel if r["keep"]) == sorted(wanted)
  summary = json.loads((out / "summary.json").read_text())
  assert summary["reason_counts"]["uid_subset"] == 20 - 3 - len(wanted)  # all but failures and the subset
