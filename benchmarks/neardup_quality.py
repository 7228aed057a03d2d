"""Near-duplicate detection quality on real photos: phash alone, dhash alone and the shipped rule.

Each real photo in ../shared/data/real_image_captions/ is edited (re-encode, resize, crop,
padding, text overlay) and hashed exactly as the annotate pass hashes (reduced decode,
curation/image.py). Positives are (photo, its edit) pairs; negatives are all pairs of
images made from different photos. Prints, per rule and threshold, recall per edit kind,
the false-match rate over negative pairs and the precision of the pooled pairs.

  .venv/bin/python benchmarks/neardup_quality.py [--photos DIR]
"""

from __future__ import annotations

import argparse
import collections
import io
import pathlib
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from webpairs.curation import dedup, hashes, image
from webpairs.sample import real

JPEG_QUALITY = 85  # edits other than re-encode are saved as this JPEG


def _jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
  buf = io.BytesIO()
  img.convert("RGB").save(buf, "JPEG", quality=quality)
  return buf.getvalue()


def _reencode(img: Image.Image, fmt: str, quality: int) -> bytes:
  buf = io.BytesIO()
  img = img.convert("RGB")
  if fmt == "png":
    img.save(buf, "PNG")
  else:
    img.save(buf, fmt, quality=quality)
  return buf.getvalue()


def _crop(img: Image.Image, sides: tuple[float, float, float, float]) -> Image.Image:
  w, h = img.size
  left, top, right, bottom = sides
  return img.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))


def _pad(img: Image.Image, share: float, colour: tuple[int, int, int]) -> Image.Image:
  w, h = img.size
  dx, dy = round(share * w), round(share * h)
  out = Image.new("RGB", (w + 2 * dx, h + 2 * dy), colour)
  out.paste(img.convert("RGB"), (dx, dy))
  return out


def _overlay(img: Image.Image, text: str, height_share: float, where: str) -> Image.Image:
  out = img.convert("RGB").copy()
  w, h = out.size
  size = max(8, round(h * height_share))
  font = ImageFont.load_default(size=size)
  draw = ImageDraw.Draw(out)
  box = draw.textbbox((0, 0), text, font=font)
  tw, th = box[2] - box[0], box[3] - box[1]
  x, y = ((w - tw) // 2, (h - th) // 2) if where == "center" else (max(0, w - tw - 4), h - th - 8)
  draw.text((x + 1, y + 1), text, font=font, fill=(0, 0, 0))
  draw.text((x, y), text, font=font, fill=(255, 255, 255))
  return out


def edits(img: Image.Image) -> list[tuple[str, str, bytes]]:
  """(kind, name, encoded bytes) for every edit of one photo."""
  out: list[tuple[str, str, bytes]] = []
  for q in (20, 40, 60, 80, 95):
    out.append(("reencode", f"jpeg{q}", _reencode(img, "JPEG", q)))
  for q in (50, 80):
    out.append(("reencode", f"webp{q}", _reencode(img, "WEBP", q)))
  out.append(("reencode", "png", _reencode(img, "png", 0)))
  for s in (0.25, 0.4, 0.6, 0.8, 1.5):
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    out.append(("resize", f"x{s}", _jpeg(img.resize(size, Image.Resampling.LANCZOS))))
  for s in (0.02, 0.05, 0.10, 0.15):
    out.append(("crop", f"center{s}", _jpeg(_crop(img, (s, s, s, s)))))
  for s in (0.05, 0.10):
    out.append(("crop", f"left{s}", _jpeg(_crop(img, (s, 0, 0, 0)))))
    out.append(("crop", f"bottom{s}", _jpeg(_crop(img, (0, 0, 0, s)))))
  for s in (0.05, 0.10, 0.20):
    out.append(("padding", f"white{s}", _jpeg(_pad(img, s, (255, 255, 255)))))
    out.append(("padding", f"black{s}", _jpeg(_pad(img, s, (0, 0, 0)))))
  for s, where in ((0.05, "corner"), (0.10, "corner"), (0.08, "center"), (0.15, "center")):
    out.append(("overlay", f"{where}{s}", _jpeg(_overlay(img, "(c) example.com", s, where))))
  return out


def hash_bytes(data: bytes) -> tuple[int, int]:
  """(phash, dhash) as the annotate pass computes them."""
  info = image.inspect_image(data)
  if info.status != "ok":
    raise RuntimeError(f"edit did not decode: {info.status} {info.detail}")
  p = hashes.phash_batch(info.phash_pixels[None])[0]
  d = hashes.dhash_batch(info.dhash_pixels[None])[0]
  return int(p), int(d)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--photos", default=None, help="folder with captions.json and photos")
  parser.add_argument("--thresholds", default="0,2,4,6,8,10,12,14,16,20")
  parser.add_argument("--band_bits", type=int, default=16)
  args = parser.parse_args()
  folder = pathlib.Path(args.photos) if args.photos else real.default_real_images_dir()
  if folder is None or not (folder / "captions.json").is_file():
    sys.exit("no real photos: pass --photos or provide ../shared/data/real_image_captions/")
  photos = real.load_real_photos(folder)

  family, kind, ph, dh = [], [], [], []
  for i, photo in enumerate(photos):
    with Image.open(photo.path) as img:
      img.load()
      base = img.convert("RGB")
    for k, _, data in [("original", "png", _reencode(base, "png", 0))] + edits(base):
      p, d = hash_bytes(data)
      family.append(i)
      kind.append(k)
      ph.append(p)
      dh.append(d)
  family_a = np.array(family)
  kind_a = np.array(kind)
  P = np.array(ph, dtype=np.uint64)
  D = np.array(dh, dtype=np.uint64)
  dp = hashes.hamming(P[:, None], P[None, :])
  dd = hashes.hamming(D[:, None], D[None, :])

  orig = np.flatnonzero(kind_a == "original")
  pos_i, pos_j = [], []
  for o in orig:
    members = np.flatnonzero((family_a == family_a[o]) & (kind_a != "original"))
    pos_i += [o] * len(members)
    pos_j += list(members)
  pos_i, pos_j = np.array(pos_i), np.array(pos_j)
  iu, ju = np.triu_indices(len(P), 1)
  neg = family_a[iu] != family_a[ju]
  neg_i, neg_j = iu[neg], ju[neg]
  kinds = ["reencode", "resize", "crop", "padding", "overlay"]
  print(f"{len(photos)} photos, {len(P)} images, {len(pos_i)} positive pairs "
        f"({', '.join(f'{k} {int((kind_a[pos_j] == k).sum())}' for k in kinds)}), {len(neg_i)} negative pairs")
  print("distance of positives, phash: "
        + ", ".join(f"{k} median {np.median(dp[pos_i, pos_j][kind_a[pos_j] == k]):.0f} max "
                    f"{dp[pos_i, pos_j][kind_a[pos_j] == k].max()}" for k in kinds))
  print(f"closest negatives: phash {dp[neg_i, neg_j].min()}, dhash {dd[neg_i, neg_j].min()}, "
        f"max(phash, dhash) {np.maximum(dp[neg_i, neg_j], dd[neg_i, neg_j]).min()}")
  bands = dedup.band_values(P, D, args.band_bits)
  share_band = (bands[:, None, :] == bands[None, :, :]).any(axis=2)
  rules = {
      "phash": lambda t: dp <= t,
      "dhash": lambda t: dd <= t,
      "phash|dhash": lambda t: (dp <= t) | (dd <= t),
      "phash&dhash": lambda t: dedup.is_near(dp, dd, t),
      "shipped": lambda t: dedup.is_near(dp, dd, t) & share_band,
  }
  print(f"shipped: phash and dhash both within t, candidates from {bands.shape[1]} LSH bands of "
        f"{args.band_bits} bits (pairs that share no band are never compared); "
        f"default t = {dedup.DEFAULT_THRESHOLD}")
  header = f"{'rule':<12} {'t':>3} " + " ".join(f"{k:>8}" for k in kinds) + f" {'re+rs':>7} {'fm_rate':>9} {'prec':>6}"
  print(header)
  thresholds = [int(t) for t in args.thresholds.split(",")]
  best = collections.OrderedDict()
  for name, rule in rules.items():
    for t in thresholds:
      hit = rule(t)
      pos_hit = hit[pos_i, pos_j]
      rec = {k: pos_hit[kind_a[pos_j] == k].mean() for k in kinds}
      easy = np.isin(kind_a[pos_j], ["reencode", "resize"])
      fm = hit[neg_i, neg_j].sum()
      tp = pos_hit.sum()
      prec = tp / max(1, tp + fm)
      print(f"{name:<12} {t:>3} " + " ".join(f"{rec[k]:>8.3f}" for k in kinds)
            + f" {pos_hit[easy].mean():>7.3f} {fm / len(neg_i):>9.5f} {prec:>6.3f}")
      if fm == 0:
        best[name] = (t, pos_hit.mean(), pos_hit[easy].mean())
  print("largest threshold with no false match, recall all / re-encode+resize:")
  for name, (t, r_all, r_easy) in best.items():
    print(f"  {name:<12} t={t:<3} recall {r_all:.3f} / {r_easy:.3f}")


if __name__ == "__main__":
  main()
