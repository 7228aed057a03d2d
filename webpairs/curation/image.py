"""Image checks of the annotate pass: header, sha256, bomb guard, reduced decoding for hashes."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import warnings

import numpy as np
from PIL import Image

from webpairs.curation import hashes
from webpairs.curation import reasons
from webpairs.formats.images import to_rgb

DEFAULT_MAX_PIXELS = 100_000_000
# Hash pixels are decoded/reduced so the smaller side stays >= this (see decode_gray).
DEFAULT_DRAFT_SIZE = 64
# Formats a web image can have. Restricting PIL's probing keeps random bytes from being
# "identified" as an exotic headerless format (TGA, ...) and keeps rarely used decoders out.
# (Camera MPO files open through the JPEG entry and report format "MPO".)
DEFAULT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_DRAFT_FORMATS = ("JPEG", "MPO")
# A line of hash pixels is border when its values spread by at most this much (JPEG noise on a flat bar).
BORDER_TOLERANCE = 12


def check_formats(formats: tuple[str, ...]) -> None:
  """Raises ValueError for a name PIL cannot open: a typo would reject every image as corrupt."""
  Image.init()
  unknown = [f for f in formats if f.upper() not in Image.OPEN]
  if unknown:
    raise ValueError(f"PIL cannot open formats {unknown}; known: {sorted(Image.OPEN)}")


class _Reject(Exception):
  """One image check failed: `reason` from reasons.py, message is the row's detail."""

  def __init__(self, reason: str, detail: str):
    super().__init__(detail)
    self.reason = reason


@dataclasses.dataclass
class ImageInfo:
  """What the annotate pass learns from one image member.

  `status` is `ok` or the image reject reason; header fields are filled whenever PIL
  returned a header (a bomb caught by our limit keeps its size; one that trips PIL's own
  hard limit, 2 x Image.MAX_IMAGE_PIXELS, does not). `phash_pixels` and `dhash_pixels`
  are the resized grayscale arrays the batched hashes run on.
  """

  n_bytes: int
  sha256: str
  status: str = reasons.OK
  detail: str = ""
  width: int | None = None
  height: int | None = None
  format: str | None = None
  phash_pixels: np.ndarray | None = None
  dhash_pixels: np.ndarray | None = None
  # With inspect_image(windows=True): hash inputs of the `window_inputs`, (N_WINDOWS, 32, 32) and (N_WINDOWS, 8, 9).
  window_phash_pixels: np.ndarray | None = None
  window_dhash_pixels: np.ndarray | None = None
  # Width / height of the hashed content (inside letterbox bars, as decoded for hashing): select's
  # dedup.windows only links a pair found through window hashes when these are close (dedup.aspect_close).
  content_aspect: float | None = None


# A crop of up to ~10% keeps most of one of these windows of the content: a 3x3 grid of windows of
# this share of each side (centre, the four edge-anchored, the four corner-anchored). Each is
# cropped and then resized like the whole image: slices of one larger resample match crops worse
# (crop 10% recall 0.69 vs 0.97 at t=12, same benchmark). The corners matter for crops from two
# sides (top-left 10%): centre and edges alone found 0.875 of 10% crops, all nine 1.0 (ad hoc on
# benchmarks/neardup_quality.py's photos, PIL crops, all LSH bands, t=10).
WINDOW_SHARE = 0.9
_WINDOW_ANCHORS = tuple((ax, ay) for ay in (0.5, 0.0, 1.0) for ax in (0.5, 0.0, 1.0))
# Every 90% window holds most of each corner, so a badge there changes all nine (a 20% wide badge on
# page.png, 384x191, is 20% of its height: its windows end 16-34 pHash bits off). The top-left and
# bottom-right windows of CORNER_SHARE leave out a 25% strip on two sides, so one of them misses a badge
# of up to 25% x 25% in any corner (annotation format 7). Small windows of simple images match across
# images, so select compares a corner window only with the same corner of another image, and links the
# two only when their content dHashes and aspects are also close (dedup.corner_pairs).
CORNER_SHARE = 0.75
_CORNER_ANCHORS = ((0.0, 0.0), (1.0, 1.0))  # top-left, bottom-right
N_GRID_WINDOWS = len(_WINDOW_ANCHORS)  # annotation format 6 wrote these only
N_CORNERS = len(_CORNER_ANCHORS)
N_WINDOWS = N_GRID_WINDOWS + N_CORNERS
# Windows are resampled from the content resized to this many pixels a side: twice the pHash input.
WINDOW_GRID = 2 * hashes.PHASH_INPUT


def window_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
  """(left, top, right, bottom) of the N_WINDOWS windows: the 3x3 grid of WINDOW_SHARE row by row (y
  centred, top, bottom; in each, x centred, left, right; the first is the centre window), then the
  corner windows of CORNER_SHARE (top-left, bottom-right)."""
  boxes = []
  for share, anchors in ((WINDOW_SHARE, _WINDOW_ANCHORS), (CORNER_SHARE, _CORNER_ANCHORS)):
    cw, ch = max(1, round(width * share)), max(1, round(height * share))
    for ax, ay in anchors:
      x, y = round((width - cw) * ax), round((height - ch) * ay)
      boxes.append((x, y, x + cw, y + ch))
  return boxes


def _lanczos(x: np.ndarray) -> np.ndarray:
  return np.where(np.abs(x) < 3.0, np.sinc(x) * np.sinc(x / 3.0), 0.0)


@functools.lru_cache(maxsize=4096)
def _window_weights(size: int, out: int, share: float = WINDOW_SHARE) -> np.ndarray:
  """(3, out, size) float32 resampling matrices of the centred, start- and end-anchored windows of a side.

  Row i of a window's matrix is PIL's LANCZOS (antialiased, a = 3) filter for output pixel i of
  that window resized to `out` pixels, zero outside the window (the crop's edge pixels are the last
  ones used), normalised to sum 1: the same sampling as crop-then-resize, in float.
  """
  win = max(1, round(size * share))
  scale = win / out
  support = max(scale, 1.0)  # the filter widens when shrinking (antialias)
  centres = (np.arange(out) + 0.5) * scale
  k = _lanczos((np.arange(win)[None, :] + 0.5 - centres[:, None]) / support)
  k /= k.sum(axis=1, keepdims=True)
  weights = np.zeros((3, out, size), np.float32)
  for i, anchor in enumerate((0.5, 0.0, 1.0)):
    start = round((size - win) * anchor)
    weights[i, :, start:start + win] = k
  return weights


@functools.lru_cache(maxsize=4096)
def _side_weights(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
  """The `_window_weights` of a side for the grid's three ranges, then the corner windows' start and end ones:
  (5, out, size), and the same transposed (5, size, out), contiguous, for the column products."""
  w = np.concatenate([_window_weights(size, out, WINDOW_SHARE), _window_weights(size, out, CORNER_SHARE)[1:]])
  return w, np.ascontiguousarray(w.transpose(0, 2, 1))


def window_inputs(gray: Image.Image) -> tuple[np.ndarray, np.ndarray]:
  """Hash inputs of the `window_boxes` of `gray`: (N_WINDOWS, 32, 32) and (N_WINDOWS, 8, 9) uint8.

  Each window is resampled as if cropped and resized with LANCZOS like the whole image
  (hashes.hash_inputs), within a level or two of PIL's pixels, but as matrix products: one
  for the five row ranges (the grid's three, the corners' two), then one for the grid's
  3x3 windows and one for the two corners (top rows with left columns, bottom with right):
  PIL crops and resizes cost more than the rest of the annotate pass. The content is first
  box-averaged to WINDOW_GRID pixels a side (one PIL call, cheaper than LANCZOS, which made
  windows cost 0.80x of annotate's examples/s against 0.88x, at no better recall), so the
  products stay small enough for a BLAS to run them in the calling thread (its threads cost
  100x on small matrices).
  """
  gray = gray if gray.mode == "L" else gray.convert("L")
  px = np.asarray(gray.resize((WINDOW_GRID, WINDOW_GRID), Image.Resampling.BOX), np.float32)
  h, w = px.shape
  out = []
  for oh, ow in ((hashes.PHASH_INPUT, hashes.PHASH_INPUT), (hashes.HASH_SIZE, hashes.HASH_SIZE + 1)):
    rows = _side_weights(h, oh)[0] @ px  # (5, oh, w): the row ranges
    cols = _side_weights(w, ow)[1]  # (5, w, ow): the column ranges
    both = np.concatenate([(rows[:3, None] @ cols[None, :3]).reshape(-1, oh, ow),  # (3 rows x 3 columns, oh, ow)
                           rows[3:] @ cols[3:]])
    np.clip(np.rint(both, out=both), 0, 255, out=both)
    out.append(both.astype(np.uint8))
  return out[0], out[1]


def _open(data: bytes, max_pixels: int, formats: tuple[str, ...]) -> Image.Image:
  """Reads the header only; PIL's own bomb warning becomes a reject or defers to `max_pixels`."""
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      return Image.open(io.BytesIO(data), formats=formats)
  except Image.DecompressionBombError as e:
    raise _Reject(reasons.DECOMPRESSION_BOMB, f"PIL: {e}") from None
  except Image.DecompressionBombWarning as e:
    pil_limit = Image.MAX_IMAGE_PIXELS
    if pil_limit is not None and pil_limit >= max_pixels:
      raise _Reject(reasons.DECOMPRESSION_BOMB, f"PIL: {e}") from None
  except Exception as e:  # UnidentifiedImageError, or a plugin choking on its header
    raise _Reject(reasons.CORRUPT_IMAGE, _unidentified(data, e)) from None
  # PIL's process-wide limit is stricter than ours: open again and let our check decide.
  try:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", Image.DecompressionBombWarning)
      return Image.open(io.BytesIO(data), formats=formats)
  except Image.DecompressionBombError as e:
    raise _Reject(reasons.DECOMPRESSION_BOMB, f"PIL: {e}") from None
  except Exception as e:
    raise _Reject(reasons.CORRUPT_IMAGE, _unidentified(data, e)) from None


def _unidentified(data: bytes, e: Exception) -> str:
  if isinstance(e, Image.UnidentifiedImageError):  # its message holds an object address
    return f"not a recognised image ({len(data)} bytes, starting {data[:8].hex()})"
  return f"unreadable header: {type(e).__name__}: {e}"


def decode_gray(img: Image.Image, draft_size: int) -> Image.Image:
  """Grayscale pixels for the hashes, reduced so the smaller side stays >= `draft_size`.

  `img` is freshly opened and already checked against the pixel limit. JPEGs decode at
  1/2..1/8 scale in the DCT domain (draft mode, luma only); whatever is still larger, and
  every other format, is box-reduced by an integer factor, so the hashes' LANCZOS resize
  to 32x32 costs next to nothing. `draft_size` 0 decodes at full size: the hashes then
  equal imagehash's on the plain decode.
  """
  if img.format in _DRAFT_FORMATS and draft_size > 0:
    img.draft("L", (draft_size, draft_size))
  with warnings.catch_warnings():
    # Multi-frame formats check frame sizes while decoding; our limit was checked already.
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    img.load()
  gray = img if img.mode == "L" else img.convert("L")
  factor = min(gray.width // draft_size, gray.height // draft_size) if draft_size > 0 else 1
  return gray.reduce(factor) if factor >= 2 else gray


def _band(lines: np.ndarray, tol: int) -> int:
  """How many leading lines (rows of `lines`) are flat and of the first line's level."""
  lo, hi = lines.min(axis=1).astype(np.int16), lines.max(axis=1).astype(np.int16)
  level = (int(lo[0]) + int(hi[0])) // 2
  flat = (hi - lo <= tol) & (np.abs(lo - level) <= tol) & (np.abs(hi - level) <= tol)
  return len(flat) if flat.all() else int(np.argmin(flat))


def _pair(a: int, b: int, n: int) -> bool:
  """Bars on both of two opposite edges, of about equal width: a letterbox, not a flat sky."""
  return a > 0 and b > 0 and abs(a - b) <= max(2, n // 10)


def content_box(gray: Image.Image, tol: int = BORDER_TOLERANCE) -> tuple[int, int, int, int] | None:
  """(left, top, right, bottom) inside letterbox bars, or None when there are none.

  img2dataset's default resize_mode=border pads every image to a square with flat bars of
  equal width on two opposite edges; hashing the bars makes different pictures look alike.
  Only such pairs count (a flat sky on one edge stays); a flat image keeps its box.
  """
  px = np.asarray(gray)
  h, w = px.shape
  top, bottom = _band(px, tol), _band(px[::-1], tol)
  left, right = _band(px.T, tol), _band(px.T[::-1], tol)
  if top + bottom >= h - 1 or left + right >= w - 1:
    return None  # nothing but bars is no picture
  if not _pair(top, bottom, h):
    top = bottom = 0
  if not _pair(left, right, w):
    left = right = 0
  if not top + bottom + left + right:
    return None
  return left, top, w - right, h - bottom


@dataclasses.dataclass
class Decoded:
  """RGB pixels of an image member (uint8 [H, W, 3], as stored: no EXIF rotation), or why there are none."""

  pixels: np.ndarray | None
  status: str = reasons.OK
  detail: str = ""


def decode_rgb(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
               formats: tuple[str, ...] = DEFAULT_FORMATS) -> Decoded:
  """Full-size RGB pixels of one image member; never raises on bad bytes.

  The same guards as `inspect_image`: the header's pixel count is checked against
  `max_pixels` before anything is decoded. Transparent pixels become white. The first
  frame of an animation is decoded.
  """
  try:
    if not data:
      raise _Reject(reasons.CORRUPT_IMAGE, "empty image member")
    with _open(data, max_pixels, formats) as img:
      if img.width <= 0 or img.height <= 0 or img.width * img.height > max_pixels:
        reason = reasons.CORRUPT_IMAGE if min(img.size) <= 0 else reasons.DECOMPRESSION_BOMB
        raise _Reject(reason, f"{img.width}x{img.height} pixels (limit {max_pixels})")
      try:
        with warnings.catch_warnings():
          warnings.simplefilter("error", Image.DecompressionBombWarning)
          img.load()
          rgb = to_rgb(img)
      except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _Reject(reasons.DECOMPRESSION_BOMB, f"PIL: {e}") from None
      except Exception as e:  # truncated stream, broken chunk, decoder error
        raise _Reject(reasons.TRUNCATED_IMAGE, f"decoding failed: {type(e).__name__}: {e}") from None
    return Decoded(np.asarray(rgb, np.uint8))
  except _Reject as r:
    return Decoded(None, r.reason, str(r))


def inspect_image(
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int = DEFAULT_DRAFT_SIZE,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    crop_borders: bool = True,
    windows: bool = False,
) -> ImageInfo:
  """Validates one image member and prepares its hash inputs; never raises on bad bytes.

  Hash inputs leave out uniform bars at the edges (`content_box`, letterboxed images)
  unless `crop_borders` is False. `windows` adds the hash inputs of the `window_inputs` of
  that content (crop-resistant matching: annotate's window_phash / window_dhash, select's dedup.windows).

  The pixel count from the header is checked against `max_pixels` before anything is
  decoded. Unidentifiable bytes are `corrupt_image`; a readable header whose pixel data
  fails to decode is `truncated_image`.
  """
  info = ImageInfo(n_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
  try:
    if not data:
      raise _Reject(reasons.CORRUPT_IMAGE, "empty image member")
    img = _open(data, max_pixels, formats)
    with img:
      info.width, info.height = img.size
      info.format = (img.format or "").lower() or None
      if info.width <= 0 or info.height <= 0:
        raise _Reject(reasons.CORRUPT_IMAGE, f"header says {info.width}x{info.height}")
      if info.width * info.height > max_pixels:
        raise _Reject(
            reasons.DECOMPRESSION_BOMB,
            f"{info.width}x{info.height} = {info.width * info.height} pixels > limit {max_pixels}",
        )
      try:
        gray = decode_gray(img, draft_size)
        box = content_box(gray) if crop_borders else None
        if box is not None:
          gray = gray.crop(box)
        info.content_aspect = gray.width / gray.height
        info.phash_pixels, info.dhash_pixels = hashes.hash_inputs(gray)
        if windows:
          info.window_phash_pixels, info.window_dhash_pixels = window_inputs(gray)
      except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _Reject(reasons.DECOMPRESSION_BOMB, f"PIL: {e}") from None
      except Exception as e:  # truncated stream, broken chunk, decoder error
        detail = f"decoding failed: {type(e).__name__}: {e}"
        raise _Reject(reasons.TRUNCATED_IMAGE, detail) from None
  except _Reject as r:
    info.status, info.detail = r.reason, str(r)
    info.phash_pixels = info.dhash_pixels = None
    info.window_phash_pixels = info.window_dhash_pixels = None
    info.content_aspect = None
  return info
