"""Crop-resistant near-duplicates end to end: annotate's window hashes -> select's dedup.windows.

10% crops and a text-overlay copy of a photo are merged with it only through the window
hashes; letterboxed images of different content, unrelated photos and the demo sample's
synthetic images whose windows match but whose content aspects are ~2x apart are never merged;
annotation files without window columns (format < 6) still select, as with windows off, and
format-6 files without content_aspect select without the aspect check.
"""

from __future__ import annotations

import io
import pathlib

import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.curation import samples
from tests.pipelines import tarutil
from webpairs.configs.curation import load_curation_config
from webpairs.demo.sample import images as sample_images
from webpairs.demo.sample import plan as sample_plan
from webpairs.demo.sample import real
from webpairs.demo.sample import scenes
from webpairs.pipelines.annotate import annotate as annotate_job
from webpairs.pipelines.select import select as select_job

ONE_WORKER = ["--direct_num_workers=1"]
# seed 2 (generated photo): content hashes of the crop 28 and of the overlay 12 bits away (max of
# phash and dhash), best window pair 4 and 6: only windows find them at the default thresholds.
PHOTO = 2


def _jpeg(img: Image.Image) -> bytes:
  return samples.encode(img.convert("RGB"), "JPEG", quality=85)


def _overlay(img: Image.Image) -> Image.Image:
  out = img.copy()
  draw = ImageDraw.Draw(out)
  font = ImageFont.load_default(size=round(out.height * 0.15))
  box = draw.textbbox((0, 0), "(c) example.com", font=font)
  x, y = (out.width - box[2] + box[0]) // 2, (out.height - box[3] + box[1]) // 2
  draw.text((x + 1, y + 1), "(c) example.com", font=font, fill=(0, 0, 0))
  draw.text((x, y), "(c) example.com", font=font, fill=(255, 255, 255))
  return out


def _letterboxed_strip(img: Image.Image, side: int = 480) -> Image.Image:
  """The middle 3:1 band of a photo, fitted into a black square (img2dataset resize_mode=border)."""
  band = img.crop((0, (img.height - img.width // 3) // 2, img.width, (img.height + img.width // 3) // 2))
  scale = side / band.width
  band = band.resize((side, round(band.height * scale)), Image.Resampling.LANCZOS)
  out = Image.new("RGB", (side, side), (0, 0, 0))
  out.paste(band, (0, (side - band.height) // 2))
  return out


# Clean synthetic images of the demo sample (`webpairs demo`: 1,500 examples, seed 0, with the 8 real
# photos of the shared data folder) that window hashes merged with each other, image size in the header:
# 0000688 (a purple ellipse) with 0000746, 0000940 with 0001098; content aspects 1.69 vs 0.87 and 1.61 vs 0.64.
DEMO_PAIRS = ({"0000688": (210, 124), "0000746": (219, 252)}, {"0000940": (142, 88), "0001098": (594, 693)})


def demo_images() -> dict[str, bytes]:
  """The DEMO_PAIRS images, rendered and encoded as the sample writer does (the plan only counts the photos)."""
  photos = [real.RealPhoto(f"photo{i}.jpg", "a photo", 640, 480, "") for i in range(8)]
  plan = {ex.key: ex for ex in sample_plan.plan_sample(1500, 0, real_photos=photos).examples}
  out = {}
  for key, size in (item for pair in DEMO_PAIRS for item in pair.items()):
    ex = plan[key]
    assert ex.image == "render" and ex.defect == "none" and (ex.width, ex.height) == size, ex
    out[f"demo{key}"] = sample_images.encode(scenes.render(ex.scene), ex.image_format, ex.quality)
  return out


def images() -> dict[str, bytes]:
  photo = samples.photo(PHOTO, 480, 360)
  w, h = photo.size
  return {
      "a": _jpeg(photo),
      "a_crop10": _jpeg(photo.crop((round(0.1 * w), round(0.1 * h), w, h))),  # 10% off the left and the top
      "a_crop10_left": _jpeg(photo.crop((round(0.1 * w), 0, w, h))),  # content aspect 1.33 -> 1.2: 5 steps
      "a_text": _jpeg(_overlay(photo)),
      "b_letterbox": _jpeg(_letterboxed_strip(samples.photo(102, 480, 360))),
      "c_letterbox": _jpeg(_letterboxed_strip(samples.photo(103, 480, 360))),
      "d": _jpeg(samples.photo(104, 480, 360)),
      "e": _jpeg(samples.photo(105, 400, 400)),
      **demo_images(),
  }


@pytest.fixture(scope="module")
def annotations(tmp_path_factory) -> pathlib.Path:
  raw = tmp_path_factory.mktemp("raw")
  members = []
  for key, data in images().items():
    members += [(f"{key}.jpg", data), (f"{key}.txt", f"a photo {key}".encode())]
  (raw / "shard-00000.tar").write_bytes(tarutil.tar_bytes(members))
  out = tmp_path_factory.mktemp("ann")
  annotate_job.run_annotate(str(raw / "*.tar"), str(out), ONE_WORKER, show_progress=False)
  return out


def _select(annotations: pathlib.Path, out: pathlib.Path, windows: bool) -> tuple[list[set[str]], dict]:
  """The clusters (sets of keys, singletons included) and the summary."""
  config = load_curation_config("raw", [f"dedup.windows={windows}"])
  summary = select_job.run_select(str(annotations), config, str(out), ONE_WORKER, show_progress=False)
  rows = [r for p in sorted(out.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  assert len(rows) == len(images()) and all(set(r["reasons"]) <= {"near_dup"} for r in rows), rows
  groups: dict[str, set[str]] = {}
  for r in rows:
    groups.setdefault(r["cluster_id"], set()).add(r["key"])
  return sorted(groups.values(), key=sorted), summary


SINGLES = [{"b_letterbox"}, {"c_letterbox"}, {"d"}, {"e"}]
DEMO_SINGLES = [{f"demo{k}"} for pair in DEMO_PAIRS for k in pair]


def _clusters(*groups: set[str]) -> list[set[str]]:
  return sorted(groups, key=sorted)


def test_crop_and_overlay_merge_through_windows_letterboxes_and_other_aspects_do_not(annotations, tmp_path):
  rows = pq.read_table(next(annotations.glob("annotations-*.parquet"))).to_pylist()
  assert all(len(r["window_phash"]) == 9 and len(r["window_dhash"]) == 9 for r in rows)
  aspect = {r["key"]: r["content_aspect"] for r in rows}
  assert aspect["a"] == pytest.approx(4 / 3) and aspect["a_crop10_left"] == pytest.approx(1.2, rel=0.01)
  for pair in DEMO_PAIRS:
    x, y = (aspect[f"demo{k}"] for k in pair)
    assert max(x, y) / min(x, y) > 1.9  # > 2^(29/32): 29 steps of dedup.aspect_codes and more
  clusters, summary = _select(annotations, tmp_path / "on", windows=True)
  assert clusters == _clusters({"a", "a_crop10", "a_crop10_left", "a_text"}, *SINGLES, *DEMO_SINGLES)
  near = summary["near_dup"]
  assert near["windows"] is True and near["window_threshold"] == 10 and near["window_links"] >= 3
  off, summary_off = _select(annotations, tmp_path / "off", windows=False)
  # the content hashes alone merge nothing here
  assert off == _clusters({"a"}, {"a_crop10"}, {"a_crop10_left"}, {"a_text"}, *SINGLES, *DEMO_SINGLES)
  assert summary_off["near_dup"]["windows"] is False and "window_links" not in summary_off["near_dup"]


def test_files_without_content_aspect_link_window_pairs_unchecked(annotations, tmp_path):
  """Format-6 files written before content_aspect: window pairs are linked without the aspect check, which
  merges the demo sample's unrelated pairs as select did before it had one."""
  old = tmp_path / "no_aspect"
  old.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    pq.write_table(pq.read_table(path).drop_columns(["content_aspect"]), old / path.name)
  clusters, _ = _select(old, tmp_path / "sel", windows=True)
  demo = [{f"demo{k}" for k in pair} for pair in DEMO_PAIRS]
  assert clusters == _clusters({"a", "a_crop10", "a_crop10_left", "a_text"}, *SINGLES, *demo)


def test_annotation_files_without_window_columns_select_without_them(annotations, tmp_path):
  old = tmp_path / "old_ann"
  old.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["window_phash", "window_dhash", "content_aspect"]), old / path.name)
  clusters, summary = _select(old, tmp_path / "sel", windows=True)
  assert clusters == _clusters({"a"}, {"a_crop10"}, {"a_crop10_left"}, {"a_text"}, *SINGLES, *DEMO_SINGLES)
  assert summary["near_dup"]["windows"] is True and summary["near_dup"].get("window_links", 0) == 0
