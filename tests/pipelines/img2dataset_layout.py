"""Writes output as img2dataset 1.47 does, for tests: tars or parquet, per-shard parquet with status, stats.

What img2dataset does and this mimics: keys are shard id (5 digits) + index in shard (4);
`resize_mode=border` scales the longer side to `image_size` and pads with white to a square,
re-encoding as JPEG; the .json carries url, caption, the additional columns
(`--save_additional_columns`), key, status, error_message, width/height as written and
original_width/original_height; failed URLs (404, undecodable) are only rows of the parquet
beside the tar (`status` failed_to_download / failed_to_resize). With
`disable_all_reencoding` the original bytes are kept under `.jpg` whatever their format.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pathlib
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE_SIZE = 256


@dataclasses.dataclass
class Source:
  """One URL img2dataset was given: the picture at it (None: the download fails), or raw bytes as served."""

  url: str
  caption: str
  picture: Image.Image | None = None  # resized with resize_mode=border
  raw_bytes: bytes | None = None  # stored as served (disable_all_reencoding)
  error: str | None = None  # "failed_to_download: HTTP Error 404: Not Found"
  extra: dict = dataclasses.field(default_factory=dict)  # --save_additional_columns values


def border_resize(img: Image.Image, size: int = IMAGE_SIZE) -> Image.Image:
  """img2dataset's resize_mode=border: keep the aspect ratio inside size x size, pad with white."""
  w, h = img.size
  scale = size / max(w, h)
  nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
  resample = Image.Resampling.LANCZOS if scale > 1 else Image.Resampling.BOX  # cv2 INTER_LANCZOS4 / INTER_AREA
  out = Image.new("RGB", (size, size), (255, 255, 255))
  out.paste(img.convert("RGB").resize((nw, nh), resample), ((size - nw) // 2, (size - nh) // 2))
  return out


def jpeg(img: Image.Image, quality: int = 95) -> bytes:
  buf = io.BytesIO()
  img.save(buf, "JPEG", quality=quality)
  return buf.getvalue()


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  info.mtime = 1_704_067_200
  tar.addfile(info, io.BytesIO(data))


def _row(shard: int, index: int, src: Source, extra_columns: list[str]) -> tuple[dict, bytes | None]:
  """(the parquet / .json row, the image bytes or None) of one URL."""
  row = {"url": src.url, "caption": src.caption, **{c: src.extra.get(c) for c in extra_columns},
         "key": f"{shard:05d}{index:04d}", "status": "success", "error_message": None, "width": None,
         "height": None, "original_width": None, "original_height": None, "exif": None, "sha256": None}
  if src.error is not None:
    status, _, message = src.error.partition(": ")
    row.update(status=status, error_message=message)
    return row, None
  if src.raw_bytes is not None:
    data = src.raw_bytes
    with Image.open(io.BytesIO(data)) as img:
      size = original = img.size
  else:
    original = src.picture.size
    data = jpeg(border_resize(src.picture))
    size = (IMAGE_SIZE, IMAGE_SIZE)
  row.update(width=size[0], height=size[1], original_width=original[0], original_height=original[1],
             sha256=hashlib.sha256(data).hexdigest())
  return row, data


def write_output(folder: pathlib.Path, shards: list[list[Source]], output_format: str = "webdataset",
                 extra_columns: list[str] = ()) -> list[pathlib.Path]:
  """img2dataset's output folder for `shards` (lists of URLs); returns the data files written."""
  folder.mkdir(parents=True, exist_ok=True)
  written = []
  for shard, sources in enumerate(shards):
    rows, images = zip(*(_row(shard, i, s, list(extra_columns)) for i, s in enumerate(sources)))
    stem = folder / f"{shard:05d}"
    if output_format == "webdataset":
      with tarfile.open(f"{stem}.tar", "w") as tar:
        for row, data in zip(rows, images):
          if data is None:
            continue  # failures exist only in the parquet
          _member(tar, f"{row['key']}.jpg", data)
          _member(tar, f"{row['key']}.txt", row["caption"].encode("utf-8"))
          _member(tar, f"{row['key']}.json", json.dumps(row).encode("utf-8"))
      pq.write_table(pa.Table.from_pylist(list(rows)), f"{stem}.parquet")
      written.append(pathlib.Path(f"{stem}.tar"))
    else:  # output_format="parquet": the image bytes in a `jpg` column, failures with null bytes
      table = pa.Table.from_pylist([dict(r, jpg=d) for r, d in zip(rows, images)])
      pq.write_table(table, f"{stem}.parquet")
      written.append(pathlib.Path(f"{stem}.parquet"))
    ok = sum(d is not None for d in images)
    stats = {"count": len(rows), "successes": ok, "failed_to_download": len(rows) - ok,
             "status_dict": {r["status"]: sum(x["status"] == r["status"] for x in rows) for r in rows}}
    (folder / f"{shard:05d}_stats.json").write_text(json.dumps(stats))
  return written
