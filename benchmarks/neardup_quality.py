"""Near-duplicate detection quality on real photos: the shipped rule beside a plain pHash baseline.

Each real photo in ../shared/data/real_image_captions/ is edited (re-encode, png, resize, crop
3/5/10/15%, padding, img2dataset-style letterbox to a square, text overlay, logo overlay) and
hashed exactly as the annotate pass hashes (reduced decode, curation/image.py). Positives are
(photo, its edit) pairs; negatives are all pairs of images made from different photos, and,
apart, pairs of letterboxed images of different photos (also 3:1 strips of them letterboxed to
a square: mostly bars). Three rules side by side: the baseline `imagehash.phash` of the whole
decoded image, select's content rule (dedup.windows=False) and select's default with window
hashes (annotate's window_phash/window_dhash), whose window-only pairs need content aspect ratios within
dedup.ASPECT_MAX_STEPS as in select (`--no_aspect_gate`: without that check), and, format 7, its corner
windows: a corner matched only with the same corner of the other image, bucketed as select does
(dedup.corner_keys, dedup.CORNER_BAND), with content dHashes within dedup.CORNER_CONTENT_THRESHOLD and
aspects within dedup.CORNER_ASPECT_MAX_STEPS (`--no_corner_guards`: without those two; `--no_corners`:
format 6's grid only). Prints, per rule and threshold, recall per edit kind and false merges among
unrelated and letterboxed pairs.

  .venv/bin/python benchmarks/neardup_quality.py [--photos DIR] [--window_band_stride 4] [--bucket_fill 1400]
      [--no_aspect_gate] [--no_corners | --no_corner_guards]
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
from webpairs.demo.sample import real

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


def _letterbox(img: Image.Image, colour: tuple[int, int, int], side: int = 512) -> Image.Image:
  """img2dataset's resize_mode=border: fit into a side x side square, bars around."""
  img = img.convert("RGB")
  scale = side / max(img.size)
  size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
  out = Image.new("RGB", (side, side), colour)
  out.paste(img.resize(size, Image.Resampling.LANCZOS), ((side - size[0]) // 2, (side - size[1]) // 2))
  return out


def _strip(img: Image.Image) -> Image.Image:
  """The middle 3:1 band of a photo (a panorama-like crop)."""
  w, h = img.size
  sh = min(h, w // 3)
  return img.crop((0, (h - sh) // 2, w, (h - sh) // 2 + sh))


def _logo(img: Image.Image, share: float, where: str) -> Image.Image:
  """A opaque badge (filled rounded box with initials) of `share` of the width in a corner."""
  out = img.convert("RGB").copy()
  w, h = out.size
  bw = max(8, round(w * share))
  bh = max(6, bw // 2)
  x = w - bw - 6 if where.endswith("right") else 6
  y = 6 if where.startswith("top") else h - bh - 6
  draw = ImageDraw.Draw(out)
  draw.rounded_rectangle((x, y, x + bw, y + bh), radius=bh // 4, fill=(200, 30, 40), outline=(255, 255, 255))
  font = ImageFont.load_default(size=max(6, bh // 2))
  draw.text((x + bw // 6, y + bh // 4), "WP", font=font, fill=(255, 255, 255))
  return out


# Edit kinds in report order; the goals name all but crop15 and padding.
KINDS = ("reencode", "png", "resize", "crop3", "crop5", "crop10", "crop15", "padding", "letterbox",
         "overlay_text", "overlay_logo")


def edits(img: Image.Image) -> list[tuple[str, str, bytes]]:
  """(kind, name, encoded bytes) for every edit of one photo."""
  out: list[tuple[str, str, bytes]] = []
  for q in (20, 40, 60, 80, 95):
    out.append(("reencode", f"jpeg{q}", _reencode(img, "JPEG", q)))
  for q in (50, 80):
    out.append(("reencode", f"webp{q}", _reencode(img, "WEBP", q)))
  out.append(("png", "png", _reencode(img, "png", 0)))
  out.append(("png", "png-from-jpeg60", _reencode(Image.open(io.BytesIO(_reencode(img, "JPEG", 60))), "png", 0)))
  for s in (0.25, 0.4, 0.6, 0.8, 1.5):
    size = (max(1, round(img.width * s)), max(1, round(img.height * s)))
    out.append(("resize", f"x{s}", _jpeg(img.resize(size, Image.Resampling.LANCZOS))))
  for s in (0.03, 0.05, 0.10, 0.15):
    kind = f"crop{round(s * 100)}"
    out.append((kind, f"center{s}", _jpeg(_crop(img, (s / 2, s / 2, s / 2, s / 2)))))  # s of each side in all
    for name, sides in (("left", (s, 0, 0, 0)), ("bottom", (0, 0, 0, s)), ("topleft", (s, s, 0, 0))):
      out.append((kind, f"{name}{s}", _jpeg(_crop(img, sides))))
  for s in (0.05, 0.10, 0.20):
    out.append(("padding", f"white{s}", _jpeg(_pad(img, s, (255, 255, 255)))))
    out.append(("padding", f"black{s}", _jpeg(_pad(img, s, (0, 0, 0)))))
  for colour in ((0, 0, 0), (255, 255, 255), (127, 127, 127)):
    out.append(("letterbox", f"square{colour[0]}", _jpeg(_letterbox(img, colour))))
  for s, where in ((0.05, "corner"), (0.10, "corner"), (0.08, "center"), (0.15, "center")):
    out.append(("overlay_text", f"{where}{s}", _jpeg(_overlay(img, "(c) example.com", s, where))))
  for s, where in ((0.10, "topleft"), (0.15, "bottomright"), (0.20, "topright")):
    out.append(("overlay_logo", f"{where}{s}", _jpeg(_logo(img, s, where))))
  return out


def letterboxed_negatives(img: Image.Image) -> list[tuple[str, bytes]]:
  """Letterboxed versions of a photo's 3:1 strip: compared only with other photos' letterboxes."""
  return [(f"strip{c[0]}", _jpeg(_letterbox(_strip(img), c))) for c in ((0, 0, 0), (255, 255, 255))]


def baseline_phash(data: bytes) -> int:
  """Off-the-shelf pHash: imagehash.phash of the whole decoded image (bars and all)."""
  import imagehash

  with Image.open(io.BytesIO(data)) as img:
    return int(str(imagehash.phash(img.convert("RGB"))), 16)


def hash_bytes(data: bytes) -> tuple[int, int, np.ndarray, np.ndarray, int]:
  """(phash, dhash) as the annotate pass computes them, (1 + N_WINDOWS,) phash/dhash of content + windows, and
  the content aspect's code as select reads it (dedup.aspect_codes of annotate's content_aspect, a float32)."""
  info = image.inspect_image(data, windows=True)
  if info.status != "ok":
    raise RuntimeError(f"edit did not decode: {info.status} {info.detail}")
  p = hashes.phash_batch(info.phash_pixels[None])[0]
  d = hashes.dhash_batch(info.dhash_pixels[None])[0]
  wp = np.concatenate([np.array([p], np.uint64), hashes.phash_low_batch(info.window_phash_pixels)])
  wd = np.concatenate([np.array([d], np.uint64), hashes.dhash_batch(info.window_dhash_pixels)])
  return int(p), int(d), wp, wd, int(dedup.aspect_codes(np.float32([info.content_aspect]))[0])


def window_rule(WP: np.ndarray, WD: np.ndarray, band_bits: int, t: int,
                stride: int = dedup.WINDOW_BAND_STRIDE, aspect: np.ndarray | None = None) -> np.ndarray:
  """(N, N) bool: select's window matches. Entries are each image's content (column 0) and windows;
  a pair of entries of two images, not both content, is a match when phash and dhash are within t
  and the two share one of the window LSH bands (dedup.window_bands), and, given the images' `aspect`
  codes, those are close (dedup.aspect_close, as dedup.window_pairs checks them). Corner windows (the
  columns after the grid's) are left to `corner_rule`."""
  WP, WD = WP[:, :1 + image.N_GRID_WINDOWS], WD[:, :1 + image.N_GRID_WINDOWS]
  n, k = WP.shape
  hit = np.zeros((n, n), dtype=bool)
  bands = np.stack([dedup.band_values(WP[:, e], WD[:, e], band_bits) for e in range(k)], axis=1)  # (N, K, B)
  wb = dedup.window_bands(band_bits, stride)
  for x in range(k):
    for y in range(k):
      if x == 0 and y == 0:
        continue  # content-content: the shipped rule's pairs
      near = dedup.is_near(hashes.hamming(WP[:, None, x], WP[None, :, y]), hashes.hamming(WD[:, None, x], WD[None, :, y]), t)
      share = (bands[:, None, x, wb] == bands[None, :, y, wb]).any(axis=2)
      hit |= near & share
  if aspect is not None:
    hit &= dedup.aspect_close(aspect[:, None], aspect[None, :])
  return hit | hit.T


def corner_rule(WP: np.ndarray, WD: np.ndarray, aspect: np.ndarray, band_bits: int, t: int,
                guards: bool = True) -> np.ndarray:
  """(N, N) bool: select's corner matches (dedup.corner_pairs). Column 0 is the content, the columns
  after the grid's the corner windows: a corner of one image and the same corner of another within t,
  sharing the corner band, content dHashes within dedup.CORNER_CONTENT_THRESHOLD and `aspect` codes within
  dedup.CORNER_ASPECT_MAX_STEPS (`guards` False: the corner hashes alone)."""
  n = len(WP)
  hit = np.zeros((n, n), dtype=bool)
  for c in range(image.N_CORNERS):
    e = 1 + image.N_GRID_WINDOWS + c
    p, d = WP[:, e], WD[:, e]
    near = dedup.is_near(hashes.hamming(p[:, None], p[None, :]), hashes.hamming(d[:, None], d[None, :]), t)
    values = dedup.band_values(p, d, band_bits, only=dedup.CORNER_BAND)
    hit |= near & (values[:, None] == values[None, :])
  if guards:
    hit &= hashes.hamming(WD[:, None, 0], WD[None, :, 0]) <= dedup.CORNER_CONTENT_THRESHOLD
    hit &= dedup.aspect_close(aspect[:, None], aspect[None, :], dedup.CORNER_ASPECT_MAX_STEPS)
  return hit | hit.T


def crowded_corner_hits(WP: np.ndarray, WD: np.ndarray, aspect: np.ndarray, pos_i: np.ndarray, pos_j: np.ndarray,
                        band_bits: int, t: int, fill: int, window: int = 64, seed: int = 0) -> np.ndarray:
  """Per positive pair: does select's `dedup.corner_pairs` link it when each corner bucket the two share
  also holds `fill` random entries of that corner (random hashes with the bucket's band value, random
  content dHashes and aspect codes of -64..64), compared within `window` neighbours as in select?"""
  rng = np.random.default_rng(seed)
  per = 64 // band_bits
  b = dedup.CORNER_BAND
  shift = np.uint64(64 - band_bits * (b % per + 1))
  mask = np.uint64((1 << band_bits) - 1) << shift
  out = np.zeros(len(pos_i), dtype=bool)
  for n, (i, j) in enumerate(zip(pos_i, pos_j)):
    for c in range(image.N_CORNERS):
      e = 1 + image.N_GRID_WINDOWS + c
      p, d = WP[[i, j], e], WD[[i, j], e]
      values = dedup.band_values(p, d, band_bits, only=b)
      if values[0] != values[1]:
        continue
      rp, rd = (rng.integers(0, 2**64, fill, dtype=np.uint64) for _ in range(2))
      if b < per:
        rp = (rp & ~mask) | (values[0] << shift)
      else:
        rd = (rd & ~mask) | (values[0] << shift)
      got = dedup.corner_pairs(np.concatenate([p, rp]), np.concatenate([d, rd]), np.arange(2 + fill),
                               np.concatenate([aspect[[i, j]], rng.integers(-64, 65, fill)]).astype(np.int8),
                               np.concatenate([WD[[i, j], 0], rng.integers(0, 2**64, fill, dtype=np.uint64)]),
                               band_bits, t, window)
      out[n] |= bool(((got.a == 0) & (got.b == 1) | (got.a == 1) & (got.b == 0)).any())
  return out


def crowded_window_hits(WP: np.ndarray, WD: np.ndarray, pos_i: np.ndarray, pos_j: np.ndarray, band_bits: int,
                        stride: int, t: int, fill: int, window: int = 64, seed: int = 0,
                        aspect: np.ndarray | None = None) -> np.ndarray:
  """Per positive pair: does select's `dedup.window_pairs` link it when each window-band bucket the two
  share also holds `fill` random window entries (the bucket size of a large pool: 9 windows x 1e7 rows
  / 2^16 values = ~1,400 at 16-bit bands), compared as in select (`window` neighbours, and the extra walks
  of an oversized bucket)? With `aspect`
  (per image codes) the pair's entries carry theirs and the random ones random codes of -64..64."""
  rng = np.random.default_rng(seed)
  WP, WD = WP[:, :1 + image.N_GRID_WINDOWS], WD[:, :1 + image.N_GRID_WINDOWS]  # corners: crowded_corner_hits
  k = WP.shape[1]
  per = 64 // band_bits
  out = np.zeros(len(pos_i), dtype=bool)
  for n, (i, j) in enumerate(zip(pos_i, pos_j)):
    p, d = np.concatenate([WP[i], WP[j]]), np.concatenate([WD[i], WD[j]])
    ids = np.repeat([0, 1], k)
    is_window = np.tile(np.arange(k) > 0, 2)
    codes = np.repeat(aspect[[i, j]], k).astype(np.int8) if aspect is not None else None
    for b in dedup.window_bands(band_bits, stride):
      values = dedup.band_values(p, d, band_bits, only=b)
      for v in np.unique(values):
        sel = values == v
        if len(set(ids[sel].tolist())) < 2:
          continue
        shift = np.uint64(64 - band_bits * (b % per + 1))
        mask = np.uint64((1 << band_bits) - 1) << shift
        rp, rd = (rng.integers(0, 2**64, fill, dtype=np.uint64) for _ in range(2))
        if b < per:
          rp = (rp & ~mask) | (v << shift)
        else:
          rd = (rd & ~mask) | (v << shift)
        P, D = np.concatenate([p[sel], rp]), np.concatenate([d[sel], rd])
        A = None if codes is None else np.concatenate([codes[sel], rng.integers(-64, 65, fill).astype(np.int8)])
        got = dedup.window_pairs(dedup.band_values(P, D, band_bits, only=b), P, D,
                                 np.concatenate([ids[sel], 2 + np.arange(fill)]),
                                 np.concatenate([is_window[sel], np.ones(fill, bool)]), t, window, aspect=A,
                                 band_index=b, band_bits=band_bits)
        out[n] |= bool(((got.a == 0) & (got.b == 1) | (got.a == 1) & (got.b == 0)).any())
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--photos", default=None, help="folder with captions.json and photos")
  parser.add_argument("--thresholds", default="8,10,12,14", help="thresholds of the sweep below the table")
  parser.add_argument("--band_bits", type=int, default=16)
  parser.add_argument("--window_band_stride", type=int, default=dedup.WINDOW_BAND_STRIDE)
  parser.add_argument("--bucket_fill", type=int, default=0,
                      help="also: recall of the windows rule when each shared window bucket holds this many "
                           "random entries more (select's window_pairs, 64 neighbours); ~1400 at 1e7 rows")
  parser.add_argument("--no_aspect_gate", action="store_true",
                      help="windows rule without select's content aspect check (dedup.ASPECT_MAX_STEPS)")
  parser.add_argument("--no_corners", action="store_true",
                      help="windows rule without the corner windows (annotation format 6: the 3x3 grid only)")
  parser.add_argument("--no_corner_guards", action="store_true",
                      help="corner windows matched on their hashes alone (same corner), without the content "
                           "dHash and aspect guards of dedup.corner_pairs")
  args = parser.parse_args()
  folder = pathlib.Path(args.photos) if args.photos else real.default_real_images_dir()
  if folder is None or not (folder / "captions.json").is_file():
    sys.exit("no real photos: pass --photos or provide ../shared/data/real_image_captions/")
  photos = real.load_real_photos(folder)

  family, kind, ph, dh, base, wph, wdh, asp = [], [], [], [], [], [], [], []
  for i, photo in enumerate(photos):
    with Image.open(photo.path) as img:
      img.load()
      orig = img.convert("RGB")
    items = [("original", _reencode(orig, "png", 0))] + [(k, data) for k, _, data in edits(orig)]
    items += [("strip", data) for _, data in letterboxed_negatives(orig)]
    for k, data in items:
      p, d, wp, wd, a = hash_bytes(data)
      asp.append(a)
      wph.append(wp)
      wdh.append(wd)
      family.append(i)
      kind.append(k)
      ph.append(p)
      dh.append(d)
      base.append(baseline_phash(data))
  family_a = np.array(family)
  kind_a = np.array(kind)
  P = np.array(ph, dtype=np.uint64)
  D = np.array(dh, dtype=np.uint64)
  B = np.array(base, dtype=np.uint64)
  dp = hashes.hamming(P[:, None], P[None, :])
  dd = hashes.hamming(D[:, None], D[None, :])
  db = hashes.hamming(B[:, None], B[None, :])

  orig_rows = np.flatnonzero(kind_a == "original")
  pos_i, pos_j = [], []
  for o in orig_rows:
    members = np.flatnonzero((family_a == family_a[o]) & ~np.isin(kind_a, ["original", "strip"]))
    pos_i += [o] * len(members)
    pos_j += list(members)
  pos_i, pos_j = np.array(pos_i), np.array(pos_j)
  iu, ju = np.triu_indices(len(P), 1)
  other = family_a[iu] != family_a[ju]
  unrel = other & (kind_a[iu] != "strip") & (kind_a[ju] != "strip")
  boxed_kinds = ["letterbox", "padding", "strip"]
  boxed = other & np.isin(kind_a[iu], boxed_kinds) & np.isin(kind_a[ju], boxed_kinds)
  neg = {"unrelated": (iu[unrel], ju[unrel]), "letterboxed": (iu[boxed], ju[boxed])}
  kinds = [k for k in KINDS if (kind_a[pos_j] == k).any()]
  print(f"{len(photos)} photos, {len(P)} images, {len(pos_i)} positive pairs "
        f"({', '.join(f'{k} {int((kind_a[pos_j] == k).sum())}' for k in kinds)}); negative pairs: "
        f"{len(neg['unrelated'][0])} unrelated, {len(neg['letterboxed'][0])} letterboxed/padded of different photos")
  bands = dedup.band_values(P, D, args.band_bits)
  share_band = (bands[:, None, :] == bands[None, :, :]).any(axis=2)
  WP, WD = np.stack(wph), np.stack(wdh)  # (N, 1 + N_WINDOWS)
  AS = None if args.no_aspect_gate else np.array(asp, np.int8)
  t0 = dedup.DEFAULT_THRESHOLD
  shipped = lambda t: dedup.is_near(dp, dd, t) & share_band  # noqa: E731
  asp_codes = np.array(asp, np.int8)
  corners = (lambda t: np.zeros_like(dp, dtype=bool)) if args.no_corners else (  # noqa: E731
      lambda t: corner_rule(WP, WD, asp_codes, args.band_bits, t, guards=not args.no_corner_guards))
  rules = {
      "pHash(baseline)": lambda t: db <= t,
      "content": shipped,
      "windows": lambda t: shipped(t0) | window_rule(WP, WD, args.band_bits, t, args.window_band_stride, AS) | corners(t),
  }
  print(f"pHash(baseline): imagehash.phash of the whole image (bars and all), within t. content: the rule "
        f"without windows (dedup.windows=False): phash and dhash of the content inside letterbox bars both "
        f"within t, sharing one of {bands.shape[1]} LSH bands of {args.band_bits} bits. windows: select's "
        f"default: content at t = {t0}, or the content or one of the {image.N_GRID_WINDOWS} grid windows of one image and "
        f"a window of the other within t (window_threshold), sharing one of the window bands "
        f"{dedup.window_bands(args.band_bits, args.window_band_stride)}"
        f"{'' if AS is None else f', content aspects within {dedup.ASPECT_MAX_STEPS} steps of 2^(1/32)'}"
        + ("" if args.no_corners else
           f"; or a corner window within t of the same corner of the other, sharing band {dedup.CORNER_BAND}"
           + ("" if args.no_corner_guards else
              f", content dHashes within {dedup.CORNER_CONTENT_THRESHOLD} and aspects within "
              f"{dedup.CORNER_ASPECT_MAX_STEPS} steps")) + ". "
        "Recall per edit kind; fm_*: false merges among "
        "unrelated pairs and among letterboxed/padded pairs of different photos.")
  header = f"{'rule':<16}{'t':>3} " + " ".join(f"{k[:9]:>9}" for k in kinds) + f"{'fm_unrel':>10}{'fm_lbox':>9}"

  def row(name: str, t: int) -> str:
    hit = rules[name](t)
    np.fill_diagonal(hit, False)
    pos_hit = hit[pos_i, pos_j]
    rec = {k: pos_hit[kind_a[pos_j] == k].mean() for k in kinds}
    fm = {n: int(hit[a, b].sum()) for n, (a, b) in neg.items()}
    return (f"{name:<16}{t:>3} " + " ".join(f"{rec[k]:>9.3f}" for k in kinds)
            + f"{fm['unrelated']:>10}{fm['letterboxed']:>9}")

  codes = np.array(asp, np.int16)
  gap = np.abs(codes[pos_i] - codes[pos_j])
  print(f"content aspect codes (steps of 2^(1/32)) apart, edit vs original, max per edit kind: "
        + ", ".join(f"{k} {int(gap[kind_a[pos_j] == k].max())}" for k in kinds)
        + f"; window-only pairs are linked within {dedup.ASPECT_MAX_STEPS}"
        + (" (not checked: --no_aspect_gate)" if AS is None else ""))
  print("\nAt the shipped thresholds:")
  print(header)
  for name in rules:
    print(row(name, t0))
  if args.bucket_fill:
    crowded = crowded_window_hits(WP, WD, pos_i, pos_j, args.band_bits, args.window_band_stride, t0, args.bucket_fill,
                                  aspect=AS)
    if not args.no_corners:
      crowded |= crowded_corner_hits(WP, WD, asp_codes, pos_i, pos_j, args.band_bits, t0,
                                     args.bucket_fill // image.N_GRID_WINDOWS)
    hit = shipped(t0)[pos_i, pos_j] | crowded
    print(f"{'windows+' + str(args.bucket_fill):<16}{t0:>3} "
          + " ".join(f"{hit[kind_a[pos_j] == k].mean():>9.3f}" for k in kinds)
          + f"{'-':>10}{'-':>9}   (each shared window bucket filled with {args.bucket_fill} random entries)")
  print("\nThreshold sweep:")
  print(header)
  for name in rules:
    for t in (int(t) for t in args.thresholds.split(",")):
      print(row(name, t))


if __name__ == "__main__":
  main()
