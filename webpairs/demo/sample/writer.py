"""Writes a planned sample as img2dataset would: webdataset tars, parquet sidecars, plus truth."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import tarfile
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from webpairs.demo.sample import defects
from webpairs.demo.sample import images
from webpairs.demo.sample import mismatch
from webpairs.demo.sample import plan as plan_lib
from webpairs.demo.sample import real
from webpairs.demo.sample import regions as regions_lib
from webpairs.demo.sample import scenes

# webdataset.TarWriter's member attributes, with a fixed mtime so reruns are byte-identical.
TAR_MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z
TAR_USER = "bigdata"
TAR_MODE = 0o444
TRUTH_FILE = "truth.parquet"
AUTO = "auto"  # real_images_dir: use the shared data folder when it exists
_OUTPUT_FILE = re.compile(r"^\d{5}(\.tar|\.parquet|_stats\.json)$|^truth\.parquet$")

TRUTH_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("shard", pa.string()),  # tar file name
    ("offset", pa.int32()),  # 0-based position of the example in its tar
    ("defect", pa.string()),
    ("expected_status", pa.string()),  # what annotate must say (curation/reasons.py)
    ("dup_of", pa.string()),  # key of the original, for exact and near dups
    ("near_dup_kind", pa.string()),  # reencode | resize | crop
    ("lang", pa.string()),  # language of the caption; null without readable caption text
    ("page_lang", pa.string()),  # as written in the .json (null: absent)
    ("caption", pa.string()),  # null for invalid UTF-8 and missing captions
    ("image_format", pa.string()),  # what the image header says: jpeg, png, webp
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("is_real", pa.bool_()),
    ("objects", pa.string()),  # JSON list of {shape, colour, box: [x0, y0, x1, y1]}
    ("url", pa.string()),
    ("sha256", pa.string()),  # of the whole image member (before a tar cut); null: none
    ("mismatched", pa.bool_()),  # the caption is another image's (`sample --mismatch-rate`)
    ("caption_from", pa.string()),  # key of the example whose caption it is; null: its own
])

# img2dataset's parquet sidecar: additional columns, caption, url, then its own fields.
SIDECAR_SCHEMA = pa.schema([
    ("page_lang", pa.string()),
    ("regions", pa.string()),  # the .json's region list as JSON text; null: no regions
    ("caption", pa.string()),
    ("url", pa.string()),
    ("key", pa.string()),
    ("status", pa.string()),
    ("error_message", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("original_width", pa.int32()),
    ("original_height", pa.int32()),
    ("exif", pa.string()),
    ("sha256", pa.string()),
])


@dataclasses.dataclass
class SampleSummary:
  output_dir: str
  num_examples: int
  shards: list[str]
  truth_path: str
  defect_counts: dict[str, int]
  lang_counts: dict[str, int]
  num_real: int
  truncated_shard: str | None
  num_mismatched: int = 0


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  info.mtime = TAR_MTIME
  info.mode = TAR_MODE
  info.uname = info.gname = TAR_USER
  tar.addfile(info, io.BytesIO(data))


def _open_tar(fileobj) -> tarfile.TarFile:
  return tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.USTAR_FORMAT)


def build_tar(members: Sequence[tuple[str, bytes]]) -> bytes:
  """A tar stream exactly as webdataset.TarWriter writes it (ustar, 0444, bigdata:bigdata)."""
  buf = io.BytesIO()
  with _open_tar(buf) as tar:
    for name, data in members:
      _add_member(tar, name, data)
  return buf.getvalue()


def _atomic_write(path: pathlib.Path, data: bytes) -> None:
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_bytes(data)
  os.replace(tmp, path)


def _write_parquet(path: pathlib.Path, table: pa.Table) -> None:
  buf = io.BytesIO()
  pq.write_table(table, buf)
  _atomic_write(path, buf.getvalue())


class _ImageMaker:
  """Makes image members in plan order, keeping the originals that duplicates copy."""

  def __init__(self, plan: plan_lib.SamplePlan):
    self.wanted = {ex.dup_of for ex in plan.examples if ex.dup_of is not None}
    self.kept: dict[int, bytes] = {}

  def make(self, ex: plan_lib.ExamplePlan) -> bytes | None:
    data = self._make(ex)
    if ex.index in self.wanted:
      self.kept[ex.index] = data
    return data

  def _make(self, ex: plan_lib.ExamplePlan) -> bytes | None:
    if ex.image == "none":
      return None
    if ex.image == "corrupt":
      return defects.corrupt_image_bytes(np.random.default_rng(ex.byte_seed))
    if ex.image == "bomb":
      return defects.bomb_png(ex.width, ex.height)
    if ex.image == "real":
      return real.jpeg_bytes(ex.photo)
    if ex.image == "exact_dup":
      return self.kept[ex.dup_of]
    if ex.image == "near_dup":
      pixels = ex.edit.apply(images.decode(self.kept[ex.dup_of]))
      return images.encode(pixels, ex.edit.fmt, ex.quality)
    data = images.encode(scenes.render(ex.scene), ex.image_format, ex.quality)
    if ex.defect == defects.TRUNCATED_IMAGE:
      data = defects.truncate(data, ex.keep)
      _check_truncated(data, ex.key)
    return data


def _check_truncated(data: bytes, key: str) -> None:
  """The plan promises a readable header with undecodable pixels; make sure the bytes agree."""
  with Image.open(io.BytesIO(data)) as img:
    try:
      img.load()
    except OSError:
      return
  raise RuntimeError(f"truncated image {key} still decodes; the cut missed its pixel data")


def example_regions(ex: plan_lib.ExamplePlan) -> list[dict] | None:
  """Ground-truth regions of a drawn scene whose image decodes; None for every other example.

  Near-duplicates carry their objects moved by the edit, so their regions fit the edited
  pixels. Real photos have no objects; corrupt, bomb and missing images have none either,
  and a truncated image cannot be decoded, so it gets none.
  """
  if not ex.objects or ex.defect == defects.TRUNCATED_IMAGE:
    return None
  return regions_lib.regions_from_objects(ex.objects, ex.width, ex.height)


def _meta(ex: plan_lib.ExamplePlan, image: bytes | None) -> dict:
  """The .json member, in img2dataset's field order (additional columns first).

  `regions` is an additional column a detector would have added: the ground truth.
  """
  meta: dict = {}
  if ex.page_lang is not None:
    meta["page_lang"] = ex.page_lang
  regions = example_regions(ex)
  if regions is not None:
    meta["regions"] = regions
  if ex.json_has_caption:
    meta["caption"] = ex.json_caption
  width, height = ex.width, ex.height
  if width is None and image is not None:  # corrupt bytes: the size the page announced
    width, height = ex.scene.width, ex.scene.height
  meta.update({
      "url": ex.url,
      "key": ex.key,
      "status": "success",
      "error_message": None,
      "width": width,
      "height": height,
      "original_width": width,
      "original_height": height,
      "exif": "{}",
      "sha256": hashlib.sha256(image).hexdigest() if image is not None else None,
  })
  return meta


def _sidecar_row(meta: dict) -> dict:
  row = {col: meta.get(col) for col in SIDECAR_SCHEMA.names}
  if row["regions"] is not None:  # a list in the .json, its JSON text in parquet
    row["regions"] = json.dumps(row["regions"], ensure_ascii=False, separators=(",", ":"))
  return row


def _members(ex: plan_lib.ExamplePlan, image: bytes | None, meta: dict) -> list[tuple[str, bytes]]:
  """Members sorted by extension, as webdataset.TarWriter writes a sample."""
  by_ext: dict[str, bytes] = {"json": json.dumps(meta, indent=4).encode("utf-8")}
  if image is not None:
    by_ext[ex.ext] = image
  if ex.txt is not None:
    by_ext["txt"] = ex.txt
  return [(f"{ex.key}.{ext}", by_ext[ext]) for ext in sorted(by_ext)]


def _cut_inside(path: pathlib.Path, name: str, keep: float) -> None:
  """Cuts the tar file inside the data of member `name`, keeping `keep` of that data."""
  with tarfile.open(path, mode="r:") as t:
    info = t.getmember(name)
  os.truncate(path, info.offset_data + min(info.size - 1, max(1, int(info.size * keep))))


def _truth_row(ex: plan_lib.ExamplePlan, image: bytes | None, keys: Sequence[str]) -> dict:
  return {
      "key": ex.key,
      "shard": plan_lib.shard_name(ex.shard),
      "offset": ex.offset,
      "defect": ex.defect,
      "expected_status": defects.EXPECTED_STATUS[ex.defect],
      "dup_of": keys[ex.dup_of] if ex.dup_of is not None else None,
      "near_dup_kind": ex.edit.kind if ex.edit is not None else None,
      "lang": ex.lang,
      "page_lang": ex.page_lang,
      "caption": ex.caption,
      "image_format": ex.image_format,
      "width": ex.width,
      "height": ex.height,
      "is_real": ex.is_real,
      "objects": json.dumps(list(ex.objects), ensure_ascii=False),
      "url": ex.url,
      "sha256": hashlib.sha256(image).hexdigest() if image is not None else None,
      "mismatched": ex.mismatched,
      "caption_from": keys[ex.caption_from] if ex.mismatched else None,
  }


def _prepare_dir(output_dir: pathlib.Path, overwrite: bool) -> None:
  output_dir.mkdir(parents=True, exist_ok=True)
  ours = sorted(p for p in output_dir.iterdir() if _OUTPUT_FILE.match(p.name))
  if ours and not overwrite:
    raise FileExistsError(f"{output_dir} already holds a sample ({ours[0].name}, ...)")
  for p in ours:
    p.unlink()


def write_plan(
    plan: plan_lib.SamplePlan, output_dir: str | os.PathLike, overwrite: bool = False
) -> SampleSummary:
  """Writes the shards, their parquet sidecars and truth.parquet for `plan`."""
  out = pathlib.Path(output_dir)
  _prepare_dir(out, overwrite)
  keys = [ex.key for ex in plan.examples]
  maker = _ImageMaker(plan)
  truth: list[dict] = []
  shards: list[str] = []
  truncated_shard = None
  for shard in range(plan.num_shards):
    name = plan_lib.shard_name(shard)
    tmp = out / (name + ".tmp")
    sidecar: list[dict] = []
    cut = None
    # Streamed to disk one example at a time: a shard never sits in memory whole.
    with open(tmp, "wb") as f, _open_tar(f) as tar:
      for ex in plan.shard_examples(shard):
        image = maker.make(ex)
        meta = _meta(ex, image)
        for member, data in _members(ex, image, meta):
          _add_member(tar, member, data)
        sidecar.append(_sidecar_row(meta))
        truth.append(_truth_row(ex, image, keys))
        if ex.defect == defects.TRUNCATED_TAR:
          cut = (f"{ex.key}.{ex.ext}", ex.keep)
    if cut is not None:
      _cut_inside(tmp, *cut)
      truncated_shard = name
    os.replace(tmp, out / name)
    table = pa.Table.from_pylist(sidecar, SIDECAR_SCHEMA)
    _write_parquet(out / name.replace(".tar", ".parquet"), table)
    shards.append(name)
  _write_parquet(out / TRUTH_FILE, pa.Table.from_pylist(truth, TRUTH_SCHEMA))
  defect_counts = collections.Counter(ex.defect for ex in plan.examples)
  lang_counts = collections.Counter(ex.lang for ex in plan.examples if ex.lang is not None)
  return SampleSummary(
      output_dir=str(out),
      num_examples=len(plan.examples),
      shards=shards,
      truth_path=str(out / TRUTH_FILE),
      defect_counts={d: defect_counts[d] for d in defects.DEFECTS if defect_counts[d]},
      lang_counts=dict(lang_counts.most_common()),
      num_real=sum(ex.is_real for ex in plan.examples),
      truncated_shard=truncated_shard,
      num_mismatched=sum(ex.mismatched for ex in plan.examples),
  )


def write_sample(
    output_dir: str | os.PathLike,
    num_examples: int,
    seed: int,
    shard_size: int = 100,
    rates: Mapping[str, float] | None = None,
    real_images_dir: str | os.PathLike | None = AUTO,
    truncated_tar: bool = True,
    overwrite: bool = False,
    mismatch_rate: float = 0.0,
) -> SampleSummary:
  """Plans and writes a sample; the same arguments always give byte-identical files.

  Refuses a folder that already holds a sample unless `overwrite`, which deletes only
  the sample's own files (NNNNN.tar, NNNNN.parquet, NNNNN_stats.json, truth.parquet).
  `real_images_dir`: a folder with captions.json and photos, None for none, or AUTO for
  the shared data folder's real photos when present. `mismatch_rate`: the share of
  examples given another image's caption (mismatch.py); 0 leaves the shards as without it.
  """
  if real_images_dir == AUTO:
    real_images_dir = real.default_real_images_dir()
  photos = real.load_real_photos(real_images_dir) if real_images_dir is not None else []
  plan = plan_lib.plan_sample(num_examples, seed, shard_size, rates, photos, truncated_tar)
  plan = mismatch.plant_mismatches(plan, mismatch_rate)
  return write_plan(plan, output_dir, overwrite)


_GARBAGE = b"\xde\xad\xbe\xef" * (tarfile.BLOCKSIZE // 4)


def write_broken_tar(path: str | os.PathLike, num_good: int = 3, seed: int = 0) -> list[str]:
  """A tar with `num_good` intact examples, then garbage where the next header should be.

  After the garbage block the next example's data and a proper end of archive follow, as
  when a disk or transfer error hits one block. Returns the keys of the intact examples.
  Note that Python's tarfile stops *silently* at a bad header after the first member.
  """
  plan = plan_lib.plan_sample(num_good + 1, seed, shard_size=max(10, num_good + 1),
                              rates={d: 0.0 for d in defects.DEFAULT_RATES}, truncated_tar=False)
  maker = _ImageMaker(plan)
  members: list[tuple[str, bytes]] = []
  for ex in plan.examples:
    image = maker.make(ex)
    members += _members(ex, image, _meta(ex, image))
  data = build_tar(members)
  lost = plan.examples[-1].key
  with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as t:
    first_lost = min(m.offset for m in t.getmembers() if m.name.startswith(lost + "."))
  data = data[:first_lost] + _GARBAGE + data[first_lost + tarfile.BLOCKSIZE:]
  _atomic_write(pathlib.Path(path), data)
  return [ex.key for ex in plan.examples[:-1]]
