"""Crop-resistant near-duplicates end to end: annotate's window hashes -> select's dedup.windows.

10% crops and a text-overlay copy of a photo are merged with it only through the window
hashes, a copy of another photo with a corner badge only through the corner windows (annotation
format 7); letterboxed images of different content, unrelated photos and the demo sample's
synthetic images whose windows match but whose content aspects are ~2x apart are never merged;
annotation files without window columns (format < 6) still select, as with windows off, format-6
files (the 9 grid windows only) find the crops but not the badge, and format-6 files without
content_aspect select without the aspect check.
"""

from __future__ import annotations

import io
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.curation import samples
from tests.pipelines import tarutil
from webpairs.configs.curation import load_curation_config
from webpairs.curation import image
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
# seed 5 at 480x240 with a badge 20% of the width in the top-right corner: content hashes 26 bits apart,
# best pair of grid windows 12, the bottom-left corner windows (80%, clear of the badge) 0.
LOGO_PHOTO = 5


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


def _logo(img: Image.Image, share: float = 0.2) -> Image.Image:
  """An opaque badge `share` of the width wide, half as high, in the top-right corner (a watermark logo)."""
  out = img.copy()
  bw = round(out.width * share)
  bh, x = bw // 2, out.width - bw - 6
  draw = ImageDraw.Draw(out)
  draw.rounded_rectangle((x, 6, x + bw, 6 + bh), radius=bh // 4, fill=(200, 30, 40), outline=(255, 255, 255))
  draw.text((x + bw // 6, 6 + bh // 4), "WP", font=ImageFont.load_default(size=bh // 2), fill=(255, 255, 255))
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
      "f": _jpeg(samples.photo(LOGO_PHOTO, 480, 240)),
      "f_logo": _jpeg(_logo(samples.photo(LOGO_PHOTO, 480, 240))),
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
  k = image.N_WINDOWS
  assert all(len(r["window_phash"]) == k and len(r["window_dhash"]) == k for r in rows)
  aspect = {r["key"]: r["content_aspect"] for r in rows}
  assert aspect["a"] == pytest.approx(4 / 3) and aspect["a_crop10_left"] == pytest.approx(1.2, rel=0.01)
  for pair in DEMO_PAIRS:
    x, y = (aspect[f"demo{k}"] for k in pair)
    assert max(x, y) / min(x, y) > 1.9  # > 2^(29/32): 29 steps of dedup.aspect_codes and more
  clusters, summary = _select(annotations, tmp_path / "on", windows=True)
  assert clusters == _clusters({"a", "a_crop10", "a_crop10_left", "a_text"}, {"f", "f_logo"}, *SINGLES,
                               *DEMO_SINGLES)
  near = summary["near_dup"]
  assert near["windows"] is True and near["window_threshold"] == 10 and near["window_links"] >= 3
  off, summary_off = _select(annotations, tmp_path / "off", windows=False)
  # the content hashes alone merge nothing here
  assert off == _clusters({"a"}, {"a_crop10"}, {"a_crop10_left"}, {"a_text"}, {"f"}, {"f_logo"}, *SINGLES,
                          *DEMO_SINGLES)
  assert summary_off["near_dup"]["windows"] is False and "window_links" not in summary_off["near_dup"]


def test_files_without_content_aspect_link_window_pairs_unchecked(annotations, tmp_path):
  """Format-6 files written before content_aspect: window pairs are linked without the aspect check, which
  merges the demo sample's unrelated pairs as select did before it had one. Corner windows (format 7, which
  always has content_aspect) are not matched without it: the aspect is one of their guards."""
  old = tmp_path / "no_aspect"
  old.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    pq.write_table(pq.read_table(path).drop_columns(["content_aspect"]), old / path.name)
  clusters, _ = _select(old, tmp_path / "sel", windows=True)
  demo = [{f"demo{k}" for k in pair} for pair in DEMO_PAIRS]
  assert clusters == _clusters({"a", "a_crop10", "a_crop10_left", "a_text"}, {"f"}, {"f_logo"}, *SINGLES, *demo)


def test_annotation_files_without_window_columns_select_without_them(annotations, tmp_path):
  old = tmp_path / "old_ann"
  old.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["window_phash", "window_dhash", "content_aspect"]), old / path.name)
  clusters, summary = _select(old, tmp_path / "sel", windows=True)
  assert clusters == _clusters({"a"}, {"a_crop10"}, {"a_crop10_left"}, {"a_text"}, {"f"}, {"f_logo"}, *SINGLES,
                               *DEMO_SINGLES)
  assert summary["near_dup"]["windows"] is True and summary["near_dup"].get("window_links", 0) == 0


def test_format_6_files_of_grid_windows_select_with_them(annotations, tmp_path):
  """Files of annotation format 6 hold the 9 grid windows: crops and the text overlay still merge through
  them, the corner badge (found by format 7's corner windows only) does not."""
  old = tmp_path / "format6"
  old.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    table = pq.read_table(path)
    for name in ("window_phash", "window_dhash"):
      grid = pa.array([None if v is None else v[:image.N_GRID_WINDOWS] for v in table.column(name).to_pylist()],
                      table.schema.field(name).type)
      table = table.set_column(table.schema.get_field_index(name), name, grid)
    pq.write_table(table, old / path.name)
  clusters, summary = _select(old, tmp_path / "sel", windows=True)
  assert clusters == _clusters({"a", "a_crop10", "a_crop10_left", "a_text"}, {"f"}, {"f_logo"}, *SINGLES,
                               *DEMO_SINGLES)
  assert summary["near_dup"]["window_links"] >= 3


def _with_corner(annotations: pathlib.Path, out: pathlib.Path, corner: int) -> pathlib.Path:
  """The annotations with "d" given "e"'s content dHash, content aspect and, as its `corner` window (0:
  top-left, 1: bottom-right), "e"'s top-left window: every corner guard passes, the content rule does not."""
  out.mkdir()
  for path in annotations.glob("annotations-*.parquet"):
    table = pq.read_table(path)
    rows = table.to_pylist()
    at = {r["key"]: i for i, r in enumerate(rows)}
    d, e = rows[at["d"]], rows[at["e"]]
    d["dhash"], d["content_aspect"] = e["dhash"], e["content_aspect"]
    for name in ("window_phash", "window_dhash"):
      d[name] = list(d[name])
      d[name][image.N_GRID_WINDOWS + corner] = e[name][image.N_GRID_WINDOWS]
    pq.write_table(pa.Table.from_pylist(rows, table.schema), out / path.name)
  return out


def test_corner_windows_match_the_same_corner_only(annotations, tmp_path):
  """One image's top-left corner window identical to another's top-left merges the two (content dHash and
  aspect alike); identical to its bottom-right, it does not: each corner has its own LSH keys
  (dedup.corner_keys), as the top-left of one letterboxed 4:1 photo came within 10 and 5 bits of the
  bottom-right of another (tests/pipelines/test_img2dataset_input.py)."""
  same, _ = _select(_with_corner(annotations, tmp_path / "same", 0), tmp_path / "sel_same", windows=True)
  assert {"d", "e"} in same
  other, summary = _select(_with_corner(annotations, tmp_path / "other", 1), tmp_path / "sel_other", windows=True)
  assert {"d"} in other and {"e"} in other
  assert summary["near_dup"]["corners"] is True
