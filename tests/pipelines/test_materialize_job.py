"""The materialize job end to end: accounting, read-back, determinism, kill-and-resume, bad input."""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from tests.pipelines import selections, tarutil
from webpairs.curation import reasons
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.materialize import curated_plan, curated_write, layout
from webpairs.pipelines.raw import readers
from webpairs.pipelines.materialize.materialize import run_materialize
from webpairs.demo.sample import writer as sample_writer
from webpairs.formats.raw import image_extension

ROOT = pathlib.Path(__file__).resolve().parents[2]
ONE_WORKER = ["--direct_num_workers=1"]
SHARD_SIZE = 7


def _digests(folder: pathlib.Path) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _sidecar_rows(folder: pathlib.Path) -> list[dict]:
  return [r for p in sorted(folder.glob("shard-*.parquet")) for r in pq.read_table(p).to_pylist()]


@pytest.fixture(scope="module")
def selected(tmp_path_factory) -> dict[str, pathlib.Path]:
  root = tmp_path_factory.mktemp("materialize")
  sample_writer.write_sample(root / "raw", num_examples=60, seed=11, shard_size=20)
  annotate_job.run_annotate(str(root / "raw" / "*.tar"), str(root / "annotations"), ONE_WORKER, show_progress=False)
  selections.write_selection(root / "annotations", root / "selection", up_every=3)
  return {"root": root, "raw": root / "raw", "annotations": root / "annotations", "selection": root / "selection"}


@pytest.fixture(scope="module")
def materialized(selected) -> tuple[pathlib.Path, dict]:
  out = selected["root"] / "shards"
  manifest = run_materialize(str(selected["selection"]), str(out), pipeline_args=ONE_WORKER, shard_size=SHARD_SIZE,
                             show_progress=False)
  return out, manifest


def test_counts_add_up_from_input_to_shards(selected, materialized):
  out, manifest = materialized
  sel = [r for p in sorted(selected["selection"].glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  kept = [r for r in sel if r["keep"]]
  assert manifest["input_examples"] == len(sel) == 60
  assert manifest["kept"] + sum(manifest["reject_counts"].values()) == manifest["input_examples"]
  assert manifest["planned_copies"] == manifest["selected_copies"] == sum(r["repeat"] for r in kept)
  assert manifest["examples"] == manifest["planned_copies"] > manifest["kept"]  # repeats are written
  assert manifest["not_written"] == {}
  assert sum(s["examples"] for s in manifest["shards"]) == manifest["examples"]
  rows = _sidecar_rows(out)
  assert len(rows) == manifest["examples"]
  copies = collections.Counter((r["source"], r["offset"]) for r in rows)
  assert copies == {(r["source"], r["offset"]): r["repeat"] for r in kept}
  assert sum(manifest["lang_counts"].values()) == manifest["examples"]


def test_manifest_describes_the_shards(selected, materialized):
  out, manifest = materialized
  names = sorted(p.name for p in out.iterdir() if p.is_file() and p.name not in ("manifest.json", "sizes.json"))
  assert names == sorted(n for s in manifest["shards"] for n in (s["name"], s["sidecar"]))
  for shard in manifest["shards"]:
    data = (out / shard["name"]).read_bytes()
    assert len(data) == shard["bytes"] and hashlib.sha256(data).hexdigest() == shard["sha256"]
    assert pq.read_metadata(out / shard["sidecar"]).num_rows == shard["examples"]
  assert [s["name"] for s in manifest["shards"]] == [f"shard-{i:05d}.tar" for i in range(manifest["num_shards"])]
  assert manifest["config_hash"] == "test-3" and manifest["tokenizer"] is None
  assert [i["path"] for i in manifest["inputs"]] == sorted(str(p) for p in selected["raw"].glob("*.tar"))
  assert all(i["bytes"] == os.path.getsize(i["path"]) for i in manifest["inputs"])
  assert not list((out / ".tmp").glob("*"))


def test_tars_read_back_with_tarfile_and_match_the_raw_bytes(materialized):
  out, manifest = materialized
  raw = {(ex.source, ex.offset): ex for src in {r["source"] for r in _sidecar_rows(out)}
         for ex in readers.read_shard(src)}
  keys = []
  for shard in manifest["shards"]:
    with tarfile.open(out / shard["name"]) as tar:
      members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    rows = pq.read_table(out / shard["sidecar"]).to_pylist()
    assert len(members) == 3 * len(rows)
    for row in rows:
      key = row["key"]
      keys.append(key)
      image = members[f"{key}.{row['image_ext']}"]
      meta = json.loads(members[f"{key}.json"])
      assert members[f"{key}.txt"].decode("utf-8") == row["caption"] == meta["caption"]
      assert {"key", "caption", "lang", "url", "width", "height", "source", "cluster_id"} <= meta.keys()
      assert meta == {k: v for k, v in row.items() if k not in ("image_offset", "extra")} | {
          "regions": json.loads(row["regions"]) if row["regions"] else []}
      assert hashlib.sha256(image).hexdigest() == row["sha256"]
      source_members = raw[(row["source"], row["offset"])].members
      raw_ext = image_extension(source_members)
      assert image == source_members[raw_ext]  # not resized: same bytes
      data = (out / shard["name"]).read_bytes()  # the sidecar's offset finds the image by seek
      assert data[row["image_offset"]:row["image_offset"] + row["image_bytes"]] == image
  assert len(keys) == len(set(keys)) == manifest["examples"]
  assert all("." not in k and "/" not in k for k in keys)


def test_tars_read_back_with_webdataset(materialized):
  out, manifest = materialized
  urls = [str(out / s["name"]) for s in manifest["shards"]]
  samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
  assert len(samples) == manifest["examples"]
  rows = {r["key"]: r for r in _sidecar_rows(out)}
  for sample in samples:
    row = rows[sample["__key__"]]
    assert sample["txt"].decode("utf-8") == row["caption"]
    assert json.loads(sample["json"])["lang"] == row["lang"]
    image = sample[row["image_ext"]]
    with Image.open(io.BytesIO(image)) as img:
      assert img.size == (row["width"], row["height"])


def test_repeats_are_distinct_keys_in_shards_of_their_own(materialized):
  out, manifest = materialized
  repeat_shards = {s["sidecar"] for s in manifest["shards"] if s["repeats"]}
  assert repeat_shards
  by_example = collections.defaultdict(list)
  for shard in manifest["shards"]:
    for row in pq.read_table(out / shard["sidecar"]).to_pylist():
      assert (row["copy"] > 0) == (shard["sidecar"] in repeat_shards)
      by_example[(row["source"], row["offset"])].append(row)
  for copies in by_example.values():
    first = next(c for c in copies if c["copy"] == 0)
    assert sorted(c["key"] for c in copies) == sorted([first["key"]] + [f"{first['key']}_r{c}"
                                                                         for c in range(1, len(copies))])
    assert len({c["sha256"] for c in copies}) == 1


def test_rerun_with_other_workers_gives_identical_bytes(selected, materialized, tmp_path):
  first, _ = materialized
  run_materialize(str(selected["selection"]), str(tmp_path), pipeline_args=["--direct_num_workers=2"],
                  shard_size=SHARD_SIZE, show_progress=False)
  assert _digests(tmp_path) == _digests(first)


def test_resume_rewrites_only_incomplete_or_stale_shards(selected, materialized, tmp_path):
  first, manifest = materialized
  for p in first.iterdir():
    if p.is_file() and p.name != "manifest.json":
      (tmp_path / p.name).write_bytes(p.read_bytes())
  names = [s["name"] for s in manifest["shards"]]
  (tmp_path / names[0].replace(".tar", ".parquet")).unlink()  # killed between the tar and its sidecar
  (tmp_path / names[1]).unlink()
  (tmp_path / names[1].replace(".tar", ".parquet")).unlink()  # never written
  (tmp_path / names[2].replace(".tar", ".parquet")).write_bytes(  # from another plan: fingerprint differs
      (first / names[3].replace(".tar", ".parquet")).read_bytes())
  (tmp_path / "shard-00099.tar").write_bytes(b"left by a bigger earlier run")
  (tmp_path / ".tmp").mkdir()
  (tmp_path / ".tmp" / "shard-00004.tar.0123abcd").write_bytes(b"partial")
  untouched = [tmp_path / n for n in names[4:]]
  mtimes = {p: p.stat().st_mtime_ns for p in untouched}
  time.sleep(0.01)
  run_materialize(str(selected["selection"]), str(tmp_path), pipeline_args=ONE_WORKER, shard_size=SHARD_SIZE,
                  show_progress=False)
  assert {p: p.stat().st_mtime_ns for p in untouched} == mtimes
  assert _digests(tmp_path) == _digests(first)
  assert not list((tmp_path / ".tmp").iterdir())


def test_killed_run_resumes_to_the_uninterrupted_output(selected, materialized, tmp_path):
  """A real kill: one raw shard is a FIFO nobody writes, so the job blocks inside a shard."""
  first, _ = materialized
  raw = sorted(selected["raw"].glob("*.tar"))[1]
  parked = raw.with_name(raw.name + ".parked")
  out = tmp_path / "out"
  os.rename(raw, parked)  # keeps the file's mtime, part of the manifest's input fingerprint
  try:
    os.mkfifo(raw)
    cmd = [sys.executable, "-m", "webpairs.cli", "curate", "materialize", "--selection", str(selected["selection"]),
           "--output", str(out), "--shard-size", str(SHARD_SIZE), "--no-progress", "--no-report", *ONE_WORKER]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
      deadline = time.time() + 60
      while not list((out / ".tmp").glob("shard-*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
      assert proc.poll() is None, "materialize ended instead of blocking on the FIFO"
      assert list((out / ".tmp").glob("shard-*")), "no shard was being written after 60 s"
    finally:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
    assert not (out / "manifest.json").exists()
    finals = {p.name for p in out.glob("shard-*.parquet")}
    assert len(finals) < len(list(first.glob("shard-*.parquet")))
  finally:
    if raw.exists():
      raw.unlink()
    os.rename(parked, raw)
  run_materialize(str(selected["selection"]), str(out), pipeline_args=ONE_WORKER, shard_size=SHARD_SIZE,
                  show_progress=False)
  assert _digests(out) == _digests(first)


def test_tfrecord_with_resize_reads_back_with_tf_data(selected, tmp_path):
  tf = pytest.importorskip("tensorflow")
  manifest = run_materialize(str(selected["selection"]), str(tmp_path), pipeline_args=ONE_WORKER, shard_size=20,
                             resize=48, fmt="tfrecord", show_progress=False)
  paths = [str(tmp_path / s["name"]) for s in manifest["shards"]]
  assert all(p.endswith(".tfrecord") for p in paths)
  names = ("image/encoded", "image/format", "text", "key", "lang", "regions")
  spec = {name: tf.io.FixedLenFeature([], tf.string) for name in names}
  rows = {r["key"]: r for r in _sidecar_rows(tmp_path)}
  seen = 0
  for record in tf.data.TFRecordDataset(paths):
    ex = tf.io.parse_single_example(record, spec)
    key = ex["key"].numpy().decode()
    image = tf.io.decode_jpeg(ex["image/encoded"]).numpy()
    assert ex["image/format"].numpy() == b"jpeg"
    assert ex["text"].numpy().decode("utf-8") == rows[key]["caption"]
    assert ex["lang"].numpy().decode() == rows[key]["lang"]
    assert json.loads(ex["regions"].numpy()) == json.loads(rows[key]["regions"] or "[]")
    assert min(image.shape[:2]) <= 48 and image.shape[:2] == (rows[key]["height"], rows[key]["width"])
    seen += 1
  assert seen == len(rows) == manifest["examples"] == manifest["planned_copies"]
  assert manifest["resize"] == {"shorter_side": 48, "image_format": "jpeg", "quality": 95}


def _jpeg(seed: int) -> bytes:
  pixels = np.random.default_rng(seed).integers(0, 255, (40, 60, 3), dtype=np.uint8)
  buf = io.BytesIO()
  Image.fromarray(pixels).save(buf, format="JPEG")
  return buf.getvalue()


def _write_raw(path: pathlib.Path, keys: list[str], seed: int, images: dict[str, bytes] | None = None) -> None:
  members = []
  for i, key in enumerate(keys):
    image = (images or {}).get(key) or _jpeg(seed + i)
    members += [(f"{key}.jpg", image), (f"{key}.txt", f"a photo of thing {seed + i}".encode()),
                (f"{key}.json", json.dumps({"url": f"https://example.com/{seed + i}.jpg"}).encode())]
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tarutil.tar_bytes(members))


def test_shared_keys_and_changed_sources_never_crash(tmp_path):
  a, b, c = tmp_path / "in" / "a.tar", tmp_path / "in" / "b.tar", tmp_path / "elsewhere" / "c.tar"
  _write_raw(a, ["000", "dir/x", "img_r1", "last"], seed=0)
  _write_raw(b, ["000", "dir_x", "zzz"], seed=10)
  _write_raw(c, ["c0"], seed=20)
  annotate_job.run_annotate([str(a), str(b), str(c)], str(tmp_path / "ann"), ONE_WORKER, show_progress=False)
  rows = selections.selection_rows(selections.annotation_rows(tmp_path / "ann"))
  assert all(r["keep"] for r in rows)
  repeats = {("a.tar", "000"): 3, ("b.tar", "zzz"): 2}
  for r in rows:
    r["repeat"] = repeats.get((pathlib.Path(r["source"]).name, r["key"]), 1)
  rows.append(next(dict(r) for r in rows if r["source"] == str(a) and r["key"] == "000"))  # listed twice
  selections.write_selection(tmp_path / "ann", tmp_path / "sel", rows=rows)
  # After annotate, a.tar loses its last example and b.tar's "zzz" gets other image bytes.
  _write_raw(a, ["000", "dir/x", "img_r1"], seed=0)
  _write_raw(b, ["000", "dir_x", "zzz"], seed=10, images={"zzz": _jpeg(99)})

  out = tmp_path / "out"
  manifest = run_materialize(str(tmp_path / "sel"), str(out), str(tmp_path / "in" / "*.tar"), ONE_WORKER,
                             shard_size=2, show_progress=False)
  assert manifest["not_written"] == {curated_plan.SOURCE_NOT_IN_INPUT: 1, curated_write.SOURCE_CHANGED: 2,
                                     curated_write.MISSING_IN_SOURCE: 1, curated_plan.DUPLICATE_ROW: 3}
  assert manifest["planned_copies"] == sum(r["repeat"] for r in rows) == 14
  assert manifest["examples"] == 14 - 7
  written = _sidecar_rows(out)
  keys = [r["key"] for r in written]
  assert len(keys) == len(set(keys)) == 7
  by_source_key = {(pathlib.Path(r["source"]).name, r["source_key"], r["copy"]): r["key"] for r in written}
  assert by_source_key[("a.tar", "img_r1", 0)] == layout.safe_key("img_r1") != "img_r1"
  shared = {by_source_key[("a.tar", "000", 0)], by_source_key[("b.tar", "000", 0)]}
  assert len(shared) == 2 and all(k.startswith("000_") for k in shared)
  assert by_source_key[("a.tar", "000", 2)] == by_source_key[("a.tar", "000", 0)] + "_r2"
  assert by_source_key[("b.tar", "dir_x", 0)] == "dir_x"  # "dir/x" escapes to a hashed key: no clash
  assert by_source_key[("a.tar", "dir/x", 0)] == layout.safe_key("dir/x")
  samples = list(wds.WebDataset([str(out / s["name"]) for s in manifest["shards"]], shardshuffle=False,
                                empty_check=False))
  assert sorted(s["__key__"] for s in samples) == sorted(keys)
  assert reasons.OK not in manifest["reject_counts"]


def test_portable_runner_gives_the_same_files(selected, materialized, job_service, tmp_path):
  first, _ = materialized
  args = ["--runner=PortableRunner", f"--job_endpoint={job_service}", "--environment_type=LOOPBACK"]
  run_materialize(str(selected["selection"]), str(tmp_path), pipeline_args=args, shard_size=SHARD_SIZE,
                  show_progress=False)
  assert _digests(tmp_path) == _digests(first)
