"""Written samples: img2dataset layout, byte-identical reruns, defect bytes that match the truth."""

import collections
import hashlib
import io
import json
import pathlib
import re
import struct
import tarfile
import zlib

import imagehash
import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset
from PIL import Image

from webpairs import cli
from webpairs.demo.sample import defects
from webpairs.demo.sample import regions
from webpairs.demo.sample import scenes
from webpairs.demo.sample import writer


def _read_shard(path: pathlib.Path) -> tuple[dict[str, dict[str, bytes]], list[str], str | None]:
  """Members by key, keys in tar order, and the read error that ended the tar (if any)."""
  members: dict[str, dict[str, bytes]] = collections.defaultdict(dict)
  order: list[str] = []
  error = None
  with tarfile.open(path, "r:") as tar:
    try:
      for m in tar:
        key, ext = m.name.split(".", 1)
        if key not in order:
          order.append(key)
        try:
          members[key][ext] = tar.extractfile(m).read()
        except tarfile.ReadError as e:
          error = str(e)
    except tarfile.ReadError as e:
      error = str(e)
  return members, order, error


def _file_hashes(folder: pathlib.Path) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
  out = tmp_path_factory.mktemp("sample")
  summary = writer.write_sample(out, 400, seed=7, shard_size=100, real_images_dir=None)
  truth = pq.read_table(out / writer.TRUTH_FILE).to_pylist()
  shards = {name: _read_shard(out / name) for name in summary.shards}
  return summary, truth, shards


def test_layout_is_img2dataset(sample):
  summary, truth, shards = sample
  names = sorted(p.name for p in pathlib.Path(summary.output_dir).iterdir())
  assert names == ["00000.parquet", "00000.tar", "00001.parquet", "00001.tar", "00002.parquet",
                   "00002.tar", "00003.parquet", "00003.tar", "truth.parquet"]
  with tarfile.open(pathlib.Path(summary.output_dir) / "00000.tar") as tar:
    all_members = tar.getmembers()
  # Members of an example are consecutive and sorted by extension, as webdataset writes them.
  for key in {m.name.split(".")[0] for m in all_members}:
    exts = [m.name.split(".", 1)[1] for m in all_members if m.name.startswith(key + ".")]
    assert exts == sorted(exts) and re.fullmatch(r"\d{7}", key)
  for m in all_members:
    assert (m.mtime, m.mode, m.uname, m.gname, m.uid, m.gid) == (
        writer.TAR_MTIME, 0o444, "bigdata", "bigdata", 0, 0)
  sidecar = pq.read_table(pathlib.Path(summary.output_dir) / "00001.parquet")
  assert sidecar.schema.names == writer.SIDECAR_SCHEMA.names
  assert sidecar.column("key").to_pylist() == [r["key"] for r in truth if r["shard"] == "00001.tar"]


def test_shards_are_byte_for_byte_webdataset_tarwriter_output(sample):
  summary, _, shards = sample
  members, order, _ = shards["00001.tar"]
  buf = io.BytesIO()
  tw = webdataset.TarWriter(buf, encoder=False, mtime=writer.TAR_MTIME)
  for key in order:
    tw.write({"__key__": key, **members[key]})
  tw.close()
  assert buf.getvalue() == (pathlib.Path(summary.output_dir) / "00001.tar").read_bytes()


def test_truth_rows_are_the_examples_written(sample):
  summary, truth, shards = sample
  assert len(truth) == summary.num_examples == 400
  for name, (members, order, error) in shards.items():
    rows = [r for r in truth if r["shard"] == name]
    assert [r["key"] for r in rows] == order
    assert [r["offset"] for r in rows] == list(range(len(rows)))
    assert (error is not None) == (name == summary.truncated_shard)


def test_each_defect_present(sample):
  summary, truth, _ = sample
  counts = collections.Counter(r["defect"] for r in truth)
  assert set(counts) == set(defects.DEFECTS)
  assert summary.defect_counts == {d: counts[d] for d in defects.DEFECTS}
  for r in truth:
    assert r["expected_status"] == defects.EXPECTED_STATUS[r["defect"]]


def test_json_members(sample):
  _, truth, shards = sample
  with_page_lang = 0
  for r in truth:
    members = shards[r["shard"]][0][r["key"]]
    if r["defect"] == defects.TRUNCATED_TAR:
      continue
    meta = json.loads(members["json"])
    for field in ("url", "key", "status", "width", "height", "original_width", "original_height"):
      assert field in meta
    assert meta["key"] == r["key"] and meta["url"] == r["url"] and meta["status"] == "success"
    assert ("caption" in meta) == (r["defect"] != defects.MISSING_CAPTION)
    if r["defect"] not in (defects.MISSING_CAPTION, defects.INVALID_UTF8):
      assert meta["caption"] == r["caption"] == members["txt"].decode("utf-8")
    assert meta.get("page_lang") == r["page_lang"]
    with_page_lang += "page_lang" in meta
  assert 0.35 < with_page_lang / len(truth) < 0.65


def test_regions_are_the_truth_objects_of_decodable_drawn_scenes(sample):
  summary, truth, shards = sample
  with_regions = 0
  for r in truth:
    members = shards[r["shard"]][0][r["key"]]
    if r["defect"] == defects.TRUNCATED_TAR:
      continue
    meta = json.loads(members["json"])
    objects = json.loads(r["objects"])
    if objects and r["defect"] != defects.TRUNCATED_IMAGE:
      assert meta["regions"] == regions.regions_from_objects(objects, r["width"], r["height"]) != []
      first = meta["regions"][0]
      assert first["text"] == f"{objects[0]['colour']} {objects[0]['shape']}"
      assert round(first["box"][1] * r["width"]) == objects[0]["box"][0]  # xmin: LocCa order
      with_regions += 1
    else:
      assert "regions" not in meta, r["defect"]
  assert with_regions > 300
  # The parquet sidecar holds the same list as JSON text, null where the .json has none.
  sidecar = pq.read_table(pathlib.Path(summary.output_dir) / "00000.parquet").to_pylist()
  for row in sidecar:
    meta = json.loads(shards["00000.tar"][0][row["key"]]["json"])
    assert (json.loads(row["regions"]) if row["regions"] is not None else None) == meta.get("regions")


def _colour_box_error(pixels: np.ndarray, region: dict, margin: int = 8) -> int:
  """Largest pixel distance between a region's box edges and its colour's extent near the box."""
  h, w = pixels.shape[:2]
  y0, x0, y1, x1 = (round(v * s) for v, s in zip(region["box"], (h, w, h, w)))
  near = np.abs(pixels - np.asarray(scenes.COLOURS[region["text"].split()[0]])).sum(-1) < 60
  window = np.zeros_like(near)
  window[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = True
  ys, xs = np.nonzero(near & window)
  found = (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
  return int(max(abs(a - b) for a, b in zip(found, (y0, x0, y1, x1))))


def test_near_dup_crops_carry_regions_moved_with_the_pixels(sample):
  _, truth, shards = sample
  by_key = {r["key"]: r for r in truth}
  written, unmoved = [], []
  for r in truth:
    if r["near_dup_kind"] != "crop":
      continue
    members = shards[r["shard"]][0][r["key"]]
    pixels = np.asarray(Image.open(io.BytesIO(_image(members))).convert("RGB"), np.int32)
    mine = json.loads(members["json"])["regions"]
    orig = by_key[r["dup_of"]]
    before = regions.regions_from_objects(json.loads(orig["objects"]), orig["width"], orig["height"])
    # The last drawn shape is never covered by another one.
    written.append(_colour_box_error(pixels, mine[-1]))
    unmoved.append(_colour_box_error(pixels, before[-1]))
  assert len(written) >= 5
  assert np.median(written) <= 2 < np.median(unmoved), (written, unmoved)


_URL = re.compile(r"^https?://\S+$")
_FILE_NAME = re.compile(r"^[\w\-]+\.(jpe?g|png|webp|gif)$", re.IGNORECASE)


def test_defect_bytes_are_what_truth_says(sample):
  summary, truth, shards = sample
  by_key = {r["key"]: r for r in truth}
  images_of = {r["key"]: shards[r["shard"]][0][r["key"]] for r in truth}
  for r in truth:
    d, m = r["defect"], images_of[r["key"]]
    image = next((m[e] for e in ("jpg", "png", "webp") if e in m), None)
    if d == defects.CORRUPT_IMAGE:
      with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(image))
    elif d == defects.TRUNCATED_IMAGE:
      img = Image.open(io.BytesIO(image))
      assert img.size == (r["width"], r["height"]) and img.format.lower() == r["image_format"]
      with pytest.raises(OSError):
        img.load()
      if img.format == "JPEG":  # reduced-size decodes (draft mode) must fail too
        small = Image.open(io.BytesIO(image))
        small.draft("L", (64, 64))
        with pytest.raises(OSError):
          small.load()
    elif d == defects.DECOMPRESSION_BOMB:
      assert len(image) < 1000 and image[:8] == b"\x89PNG\r\n\x1a\n"
      length, kind = struct.unpack(">I4s", image[8:16])
      width, height = struct.unpack(">II", image[16:24])
      assert kind == b"IHDR" and width * height > 1e9
      assert (width, height) == (r["width"], r["height"])
      crc = struct.unpack(">I", image[16 + length:20 + length])[0]
      assert crc == zlib.crc32(image[12:16 + length])
      with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(image))
    elif d == defects.INVALID_UTF8:
      with pytest.raises(UnicodeDecodeError):
        m["txt"].decode("utf-8")
      assert json.loads(m["json"])["caption"] is None and r["caption"] is None
    elif d == defects.EMPTY_CAPTION:
      assert m["txt"].decode("utf-8").strip() == ""
    elif d == defects.JUNK_CAPTION:
      text = m["txt"].decode("utf-8")
      assert not any(c.isalpha() for c in text) or _URL.match(text) or _FILE_NAME.match(text), text
    elif d == defects.MISSING_IMAGE:
      assert image is None and set(m) == {"json", "txt"}
    elif d == defects.MISSING_CAPTION:
      assert "txt" not in m and image is not None
    elif d == defects.EXACT_DUP:
      assert image == _image(images_of[r["dup_of"]])
      assert by_key[r["dup_of"]]["defect"] == defects.NONE
    elif d == defects.TRUNCATED_TAR:
      assert r["shard"] == summary.shards[-1] and r["key"] == truth[-1]["key"]
      assert image is None  # its data could not be read back
    decodable = (defects.NONE, defects.NEAR_DUP, defects.EXACT_DUP, defects.INVALID_UTF8,
                 defects.JUNK_CAPTION, defects.EMPTY_CAPTION, defects.MISSING_CAPTION)
    if image is not None and d in decodable:
      img = Image.open(io.BytesIO(image))
      img.load()
      assert img.size == (r["width"], r["height"]) and img.format.lower() == r["image_format"]
      assert hashlib.sha256(image).hexdigest() == r["sha256"]


def _image(members: dict[str, bytes]) -> bytes:
  return next(members[e] for e in ("jpg", "png", "webp") if e in members)


def test_truncated_tar_breaks_only_its_last_example(sample):
  summary, truth, shards = sample
  path = pathlib.Path(summary.output_dir) / summary.truncated_shard
  members, order, error = shards[summary.truncated_shard]
  assert error is not None and order[-1] == truth[-1]["key"]
  assert all(set(members[k]) >= {"json"} for k in order[:-1])  # everything before is intact
  # Streaming readers (webdataset uses "r|") fail at the same example.
  seen = []
  with pytest.raises(tarfile.ReadError):
    with tarfile.open(path, "r|") as tar:
      for m in tar:
        seen.append(m.name.split(".")[0])
        tar.extractfile(m).read()
  assert seen[-1] == truth[-1]["key"]


def test_perceptual_hashes_separate_near_dups_from_other_scenes(sample):
  _, truth, shards = sample
  phash = {}
  for r in truth:
    if r["defect"] in (defects.NONE, defects.NEAR_DUP):
      data = _image(shards[r["shard"]][0][r["key"]])
      phash[r["key"]] = imagehash.phash(Image.open(io.BytesIO(data)))
  near = [phash[r["key"]] - phash[r["dup_of"]] for r in truth if r["defect"] == defects.NEAR_DUP]
  assert near and max(near) <= 12 and np.mean(near) <= 4, near
  clean = [r["key"] for r in truth if r["defect"] == defects.NONE]
  bits = np.array([phash[k].hash.ravel() for k in clean])
  dist = (bits[:, None] != bits[None]).sum(-1)[np.triu_indices(len(clean), 1)]
  assert np.percentile(dist, 1) > 16 and np.median(dist) >= 28


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
  kw = dict(num_examples=80, shard_size=30, real_images_dir=None)
  writer.write_sample(tmp_path / "a", seed=5, **kw)
  writer.write_sample(tmp_path / "b", seed=5, **kw)
  writer.write_sample(tmp_path / "c", seed=6, **kw)
  a, b, c = (_file_hashes(tmp_path / x) for x in "abc")
  assert a == b and len(a) == 7
  assert a.keys() == c.keys() and all(a[name] != c[name] for name in a)


def test_existing_sample_is_not_overwritten_by_accident(tmp_path):
  writer.write_sample(tmp_path, 12, seed=0, shard_size=10, real_images_dir=None)
  with pytest.raises(FileExistsError):
    writer.write_sample(tmp_path, 12, seed=0, shard_size=10, real_images_dir=None)
  before = _file_hashes(tmp_path)
  writer.write_sample(tmp_path, 5, seed=0, shard_size=10, real_images_dir=None, overwrite=True)
  after = _file_hashes(tmp_path)
  assert set(after) == {"00000.tar", "00000.parquet", "truth.parquet"} and after != before


def test_real_photos_join_as_clean_examples(tmp_path, shared_data):
  folder = shared_data / "real_image_captions"
  listed = json.loads((folder / "captions.json").read_text())
  captions = {k: v for k, v in listed.items() if not k.startswith("_")}
  summary = writer.write_sample(tmp_path, 60, seed=2, shard_size=30, real_images_dir=folder)
  truth = pq.read_table(summary.truth_path).to_pylist()
  real_rows = [r for r in truth if r["is_real"]]
  assert summary.num_real == len(real_rows) == len(captions) == 8
  assert sorted(r["caption"] for r in real_rows) == sorted(captions.values())
  sizes = sorted(Image.open(folder / name).size for name in captions)
  assert sorted((r["width"], r["height"]) for r in real_rows) == sizes
  for r in real_rows:
    assert r["defect"] == defects.NONE and r["image_format"] == "jpeg" and r["lang"] == "en"
    members = _read_shard(pathlib.Path(tmp_path) / r["shard"])[0][r["key"]]
    img = Image.open(io.BytesIO(members["jpg"]))
    img.load()
    assert img.format == "JPEG" and img.size == (r["width"], r["height"])


def test_broken_tar_helper(tmp_path):
  path = tmp_path / "broken.tar"
  keys = writer.write_broken_tar(path, num_good=3, seed=1)
  assert len(keys) == 3
  members, order, error = _read_shard(path)
  # Python's tarfile stops silently at the bad header; only the good examples come out.
  assert order == keys and all({"json", "txt"} <= set(members[k]) for k in keys)
  with tarfile.open(path) as tar:
    last = tar.getmembers()[-1]
  end = last.offset_data + -(-last.size // 512) * 512
  block = path.read_bytes()[end:end + 512]
  with pytest.raises(tarfile.HeaderError):
    tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
  assert path.stat().st_size > end + 512  # more data followed the garbage


def test_cli_writes_a_sample(tmp_path, capsys):
  out = tmp_path / "s"
  rc = cli.main(["sample", "--output", str(out), "--examples", "25", "--seed", "3",
                 "--shard-size", "10", "--real-images", "none", "--rate", "junk_caption=0.2"])
  assert rc == 0
  text = capsys.readouterr().out
  assert "25 examples in 3 shards" in text
  assert "junk_caption=5" in text and "truncated_tar=1" in text
  assert sorted(p.name for p in out.iterdir())[-1] == "truth.parquet"


def test_cli_writes_the_labelled_eval_set_next_to_the_sample(tmp_path, capsys):
  from webpairs import cli  # pylint: disable=import-outside-toplevel
  from webpairs.eval import datasets  # pylint: disable=import-outside-toplevel

  rc = cli.main(["sample", "--output", str(tmp_path / "raw"), "--examples", "30", "--real-images", "none",
                 "--eval-set", str(tmp_path / "evaldata" / "synthetic"), "--eval-examples", "24"])
  assert rc == 0
  assert "eval set:" in capsys.readouterr().out
  loaded = datasets.load("dollarstreet", str(tmp_path / "evaldata" / "synthetic"))
  assert len(loaded) == 24
