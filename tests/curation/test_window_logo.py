"""Corner windows on the real photos: a corner badge on page.png merges through them, unrelated photos stay apart.

page.png (384x191) with a badge of 15-20% of the width in a corner is the 3x3 grid's miss in
benchmarks/neardup_quality.py (overlay_logo): the badge is 20% of the image's height and inside every
90% window, so no content or grid window pair comes within the threshold. The top-left or bottom-right
window of 75% (annotation format 7) clear of the badge matches the same corner of the original, and
select links the two (dedup.corner_pairs) as their content dHashes (4 bits apart) and aspects agree.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
import pytest

from tests.curation import samples
from webpairs.curation import dedup, hashes, image

T = dedup.DEFAULT_THRESHOLD
GRID = 1 + image.N_GRID_WINDOWS  # the content's entry and the grid windows'; the corners' after them


def _badge(img: Image.Image, share: float, where: str) -> Image.Image:
  """An opaque badge `share` of the width wide, half as high, 6 pixels in from a right corner."""
  out = img.convert("RGB").copy()
  bw = round(out.width * share)
  bh, x = bw // 2, out.width - bw - 6
  y = 6 if where == "top" else out.height - bh - 6
  draw = ImageDraw.Draw(out)
  draw.rounded_rectangle((x, y, x + bw, y + bh), radius=bh // 4, fill=(200, 30, 40), outline=(255, 255, 255))
  draw.text((x + bw // 6, y + bh // 4), "WP", font=ImageFont.load_default(size=bh // 2), fill=(255, 255, 255))
  return out


def _entries(img: Image.Image) -> tuple[np.ndarray, np.ndarray, int]:
  """(1 + N_WINDOWS,) phash and dhash: the content's, then its windows' (as annotate and select use them),
  and the content aspect code."""
  buf = io.BytesIO()
  img.convert("RGB").save(buf, "JPEG", quality=90)
  info = image.inspect_image(buf.getvalue(), windows=True)
  assert info.status == "ok"
  p = np.concatenate([hashes.phash_batch(info.phash_pixels[None]), hashes.phash_low_batch(info.window_phash_pixels)])
  d = np.concatenate([hashes.dhash_batch(info.dhash_pixels[None]), hashes.dhash_batch(info.window_dhash_pixels)])
  return p, d, int(dedup.aspect_codes(np.float32([info.content_aspect]))[0])


def _near(a, b) -> np.ndarray:
  """(GRID, GRID) bool: content or grid entry x of a and y of b within T on both hashes, sharing a window band."""
  pa, da, pb, db = a[0][:GRID], a[1][:GRID], b[0][:GRID], b[1][:GRID]
  near = dedup.is_near(hashes.hamming(pa[:, None], pb[None, :]), hashes.hamming(da[:, None], db[None, :]), T)
  bands = dedup.window_bands(16)
  va, vb = dedup.band_values(pa, da, 16)[:, bands], dedup.band_values(pb, db, 16)[:, bands]
  return near & (va[:, None, :] == vb[None, :, :]).any(axis=2)


def _corner_linked(a, b) -> bool:
  """Does select's dedup.corner_pairs link a and b through one corner (each corner in its own keys)?"""
  for c in range(image.N_CORNERS):
    e = GRID + c
    got = dedup.corner_pairs(np.array([a[0][e], b[0][e]]), np.array([a[1][e], b[1][e]]), np.array([0, 1]),
                             np.array([a[2], b[2]], np.int8), np.array([a[1][0], b[1][0]]), 16, T, 64)
    if len(got):
      return True
  return False


@pytest.mark.parametrize("share,where", [(0.15, "bottom"), (0.2, "top")])
def test_corner_badge_on_a_real_photo_matches_through_a_corner_window_only(shared_data, share, where):
  page = Image.open(shared_data / "real_image_captions" / "page.png")
  a, b = _entries(page), _entries(_badge(page, share, where))
  assert not _near(a, b).any()  # the content and the 90% grid: the badge is in all of them
  assert _corner_linked(a, b)  # the 75% corner window clear of the badge, content dHashes 4 bits apart


def test_windows_of_unrelated_real_photos_never_match(shared_data):
  entries = [_entries(Image.open(p)) for p in samples.real_photos(shared_data)]
  for i, a in enumerate(entries):
    for b in entries[i + 1:]:
      assert not _near(a, b).any()
      assert not _corner_linked(a, b)
