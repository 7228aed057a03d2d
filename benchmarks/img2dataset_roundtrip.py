"""Real img2dataset output through `webpairs curate run`: a check, not a speed figure.

Serves generated pictures from 127.0.0.1 (wide and tiny ones, PNG, an HTML page posing as an
image, 404s, a duplicate URL, an emoji-only caption), downloads them with the real
img2dataset (installed in its own venv, never in webpairs'), curates the folder with
`--input 'DIR/*'` and prints whether every URL is accounted for, what the letterboxed sizes
and hashes gave, and whether extra columns and sizes.json came through.

  python3.11 -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset==1.47.0
  .venv/bin/python benchmarks/img2dataset_roundtrip.py --img2dataset /tmp/i2d/bin/img2dataset [--format parquet]
"""

from __future__ import annotations

import argparse
import collections
import functools
import http.server
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXTRA = ["uid", "clip_l14_similarity_score"]


def _picture(seed: int, w: int, h: int) -> Image.Image:
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[:h, :w].astype(np.float32)
  img = np.zeros((h, w, 3), np.float32)
  for _ in range(5):
    f = rng.uniform(0.005, 0.05, 2)
    img += np.sin(x[..., None] * f[0] + y[..., None] * f[1] + rng.uniform(0, 6.3, 3)) * rng.uniform(10, 40)
  return Image.fromarray(np.clip(img + 128, 0, 255).astype(np.uint8))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args) -> None:
    del args


def _serve(folder: pathlib.Path) -> tuple[http.server.ThreadingHTTPServer, int]:
  handler = functools.partial(_QuietHandler, directory=str(folder))
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  return server, server.server_address[1]


def _site(folder: pathlib.Path, port: int) -> list[dict]:
  """Files under `folder` and the URL list (with what each URL should become)."""
  folder.mkdir(parents=True)
  rows = []

  def add(name: str, caption: str, expect: str, data: bytes | None = None) -> None:
    if data is not None:
      (folder / name).write_bytes(data)
    i = len(rows)
    rows.append({"url": f"http://127.0.0.1:{port}/{name}", "caption": caption, "uid": f"{i:032x}",
                 "clip_l14_similarity_score": round(0.2 + i / 100, 3), "expect": expect})

  def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()

  from tests.curation import samples  # pylint: disable=import-outside-toplevel  # the photos the tests hash

  for i in range(12):
    add(f"wide{i}.jpg", f"a wide landscape photo number {i} with hills", "kept", jpeg(samples.photo(i, 400, 100)))
  add("tiny.jpg", "a tiny thumbnail of a chair", "min_side", jpeg(_picture(50, 120, 50)))
  add("banner.jpg", "a long banner of a skyline", "max_aspect_ratio", jpeg(_picture(51, 1200, 200)))
  buf = io.BytesIO()
  _picture(52, 300, 300).save(buf, "PNG")
  add("logo.png", "a logo of a coffee shop", "kept", buf.getvalue())
  add("emoji.jpg", "\U0001F600 lol \U0001F389", "kept (lang und)", jpeg(_picture(53, 300, 200)))
  add("page.jpg", "an html page served as an image", "download_failed", b"<html><body>not an image</body></html>")
  add("gone1.jpg", "a page that is gone", "download_failed")
  add("gone2.jpg", "another page that is gone", "download_failed")
  rows.append(dict(rows[0], uid=f"{len(rows):032x}", expect="exact_dup"))  # a duplicate URL
  return rows


def _near_pairs(raw: pathlib.Path, rows: list[dict], crop: bool) -> int:
  """Near-duplicate pairs (select's rule, threshold 10) among the 12 different wide pictures as downloaded."""
  from webpairs.curation import dedup, hashes, image, reasons  # pylint: disable=import-outside-toplevel
  from webpairs.formats.raw import image_extension  # pylint: disable=import-outside-toplevel
  from webpairs.pipelines.raw import readers  # pylint: disable=import-outside-toplevel

  wide = {r["url"] for r in rows[:12]}
  datas = []
  for shard in readers.match_shards(str(raw / "*")):
    for ex in readers.read_shard(shard):
      meta = json.loads(ex.members.get("json", b"{}"))
      ext = image_extension(ex.members)
      if meta.get("url") in wide and ext and meta.get("uid") != f"{len(rows) - 1:032x}":
        datas.append(ex.members[ext])
  infos = [image.inspect_image(d, crop_borders=crop) for d in datas]
  ph = hashes.phash_batch(np.stack([i.phash_pixels for i in infos]))
  dh = hashes.dhash_batch(np.stack([i.dhash_pixels for i in infos]))
  return sum(bool(dedup.is_near(hashes.hamming(ph[a], ph[b]), hashes.hamming(dh[a], dh[b]), 10))
             for a in range(len(infos)) for b in range(a + 1, len(infos)))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--img2dataset", required=True, help="the img2dataset script of its own venv")
  parser.add_argument("--format", choices=("webdataset", "parquet"), default="webdataset")
  args = parser.parse_args()
  work = pathlib.Path(tempfile.mkdtemp(prefix="i2d-roundtrip-"))
  server, port = _serve(work / "site")
  try:
    rows = _site(work / "site", port)
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "expect"} for r in rows]),
                   work / "urls.parquet")
    env = dict(os.environ, WANDB_MODE="disabled", no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    cmd = [args.img2dataset, "--url_list", str(work / "urls.parquet"), "--input_format", "parquet",
           "--url_col", "url", "--caption_col", "caption", "--save_additional_columns", json.dumps(EXTRA),
           "--output_format", args.format, "--output_folder", str(work / "raw"), "--image_size", "256",
           "--resize_mode", "border", "--processes_count", "1", "--thread_count", "4",
           "--number_sample_per_shard", "10", "--distributor", "multiprocessing", "--retries", "0",
           "--timeout", "5"]
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  finally:
    server.shutdown()
  raw = sorted(p.name for p in (work / "raw").iterdir())
  print(f"img2dataset wrote: {raw}")
  out = work / "out"
  cmd = [sys.executable, "-m", "webpairs.cli", "curate", "run", "--input", str(work / "raw" / "*"), "--config", "raw",
         "--output", str(out), "--no-progress", "--config.filters.min_side=64",
         "--config.filters.max_aspect_ratio=5.0", "--direct_num_workers=1"]
  print("$", " ".join(cmd))
  done = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
  print(done.stdout)
  print(f"exit {done.returncode}; stderr lines: {len(done.stderr.splitlines())}")
  ann = [r for p in sorted((out / "annotations").glob("annotations-*.parquet")) for r in pq.read_table(p).to_pylist()]
  sel = {r["key"]: r for p in sorted((out / "selection").glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()}
  manifest = json.loads((out / "shards" / "manifest.json").read_text())
  sizes = json.loads((out / "shards" / "sizes.json").read_text())
  print(f"URLs given {len(rows)}, annotation rows {len(ann)}, statuses {dict(collections.Counter(r['status'] for r in ann))}")
  by_url = collections.defaultdict(list)
  for r in ann:
    by_url[r["url"]].append(r)
  for want in rows[12:]:
    for r in by_url.get(want["url"], []):
      s = sel.get(r["key"], {})
      print(f"  {want['url'].rsplit('/', 1)[1]:<12} expect {want['expect']:<16} status {r['status']:<16} "
            f"reason {s.get('reason')!s:<16} size {r['width']}x{r['height']} original "
            f"{r['original_width']}x{r['original_height']} lang {r['lang']} extra {r['extra']} "
            f"{(r['status_detail'] or '')[:60]}")
  print(f"near_dup rejects: {manifest['reject_counts'].get('near_dup', 0)} (12 different wide pictures, letterboxed); "
        f"near pairs among them hashed with / without the bars: {_near_pairs(work / 'raw', rows, False)} / "
        f"{_near_pairs(work / 'raw', rows, True)}")
  print(f"sizes.json sum {sum(sizes.values())} == manifest examples {manifest['examples']}: "
        f"{sum(sizes.values()) == manifest['examples']}")


if __name__ == "__main__":
  main()
