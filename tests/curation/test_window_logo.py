"""Window hashes on the real photos: unrelated photos never match; a corner badge on page.png is a known miss.

page.png (384x191) with a badge of 15-20% of the width in a corner is benchmarks/neardup_quality.py's
overlay_logo miss: the badge is 20% of the image's height and inside every 90% window of the 3x3
grid, so no content or window pair comes within the threshold. Corner windows of 75-80% found it
(logo recall 1.0) but merged unrelated images elsewhere (README, near-duplicate section), so the
grid ships alone and this test is an expected failure until a rule finds the badge without them.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
import pytest

from tests.curation import samples
from webpairs.curation import dedup, hashes, image

T = dedup.DEFAULT_THRESHOLD


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


def _entries(img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
  """(1 + N_WINDOWS,) phash and dhash: the content's, then its windows' (as annotate and select use them)."""
  buf = io.BytesIO()
  img.convert("RGB").save(buf, "JPEG", quality=90)
  info = image.inspect_image(buf.getvalue(), windows=True)
  assert info.status == "ok"
  p = np.concatenate([hashes.phash_batch(info.phash_pixels[None]), hashes.phash_low_batch(info.window_phash_pixels)])
  d = np.concatenate([hashes.dhash_batch(info.dhash_pixels[None]), hashes.dhash_batch(info.window_dhash_pixels)])
  return p, d


def _near(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
  """(K, K) bool: entry x of a and entry y of b within T on both hashes, sharing a window band."""
  near = dedup.is_near(hashes.hamming(a[0][:, None], b[0][None, :]), hashes.hamming(a[1][:, None], b[1][None, :]), T)
  bands = dedup.window_bands(16)
  va, vb = dedup.band_values(a[0], a[1], 16)[:, bands], dedup.band_values(b[0], b[1], 16)[:, bands]
  return near & (va[:, None, :] == vb[None, :, :]).any(axis=2)


@pytest.mark.xfail(strict=True, reason="corner badges on page.png: every 90% grid window holds the badge")
@pytest.mark.parametrize("share,where", [(0.15, "bottom"), (0.2, "top")])
def test_corner_badge_on_a_real_photo_matches_through_a_window(shared_data, share, where):
  page = Image.open(shared_data / "real_image_captions" / "page.png")
  near = _near(_entries(page), _entries(_badge(page, share, where)))
  near[0, 0] = False  # content-content pairs are the content rule's (also > threshold here)
  assert near.any()


def test_windows_of_unrelated_real_photos_never_match(shared_data):
  entries = [_entries(Image.open(p)) for p in samples.real_photos(shared_data)]
  for i, a in enumerate(entries):
    for b in entries[i + 1:]:
      assert not _near(a, b).any()
