"""The defects a sample plants, the status the annotate pass must give each, and their bad bytes."""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np

from webpairs.curation import reasons

NONE = "none"
EXACT_DUP = "exact_dup"
NEAR_DUP = "near_dup"
CORRUPT_IMAGE = "corrupt_image"
TRUNCATED_IMAGE = "truncated_image"
INVALID_UTF8 = "invalid_utf8"
EMPTY_CAPTION = "empty_caption"
JUNK_CAPTION = "junk_caption"
DECOMPRESSION_BOMB = "decompression_bomb"
MISSING_IMAGE = "missing_image"
MISSING_CAPTION = "missing_caption"
TRUNCATED_TAR = "truncated_tar"

DEFECTS = (
    NONE, EXACT_DUP, NEAR_DUP, CORRUPT_IMAGE, TRUNCATED_IMAGE, INVALID_UTF8, EMPTY_CAPTION,
    JUNK_CAPTION, DECOMPRESSION_BOMB, MISSING_IMAGE, MISSING_CAPTION, TRUNCATED_TAR,
)

# Duplicates are valid examples: dedup happens in `select`, not as an annotate reject.
EXPECTED_STATUS: dict[str, str] = {
    NONE: reasons.OK,
    EXACT_DUP: reasons.OK,
    NEAR_DUP: reasons.OK,
    CORRUPT_IMAGE: reasons.CORRUPT_IMAGE,
    TRUNCATED_IMAGE: reasons.TRUNCATED_IMAGE,
    INVALID_UTF8: reasons.INVALID_UTF8,
    EMPTY_CAPTION: reasons.EMPTY_CAPTION,
    JUNK_CAPTION: reasons.JUNK_CAPTION,
    DECOMPRESSION_BOMB: reasons.DECOMPRESSION_BOMB,
    MISSING_IMAGE: reasons.MISSING_IMAGE,
    MISSING_CAPTION: reasons.MISSING_CAPTION,
    TRUNCATED_TAR: reasons.TRUNCATED_TAR,
}

# Shares of all examples; a 1000-example sample gets 15+ of each. The truncated tar is
# not a rate: it is one example per sample (the last one).
DEFAULT_RATES: dict[str, float] = {
    EXACT_DUP: 0.03,
    NEAR_DUP: 0.04,
    CORRUPT_IMAGE: 0.015,
    TRUNCATED_IMAGE: 0.015,
    INVALID_UTF8: 0.015,
    EMPTY_CAPTION: 0.015,
    JUNK_CAPTION: 0.02,
    DECOMPRESSION_BOMB: 0.015,
    MISSING_IMAGE: 0.015,
    MISSING_CAPTION: 0.015,
}

NEAR_DUP_KINDS = ("reencode", "resize", "crop")


def corrupt_image_bytes(rng: np.random.Generator) -> bytes:
  """Bytes a downloader saved as .jpg that are no image.

  Either an HTML error page, or a gzip stream (a Content-Encoding the client never
  undid) of noise: its 1f 8b magic keeps every PIL plugin, even headerless TGA, off it.
  """
  if rng.random() < 0.5:
    code = int(rng.choice([403, 404, 500, 503]))
    filler = "x" * int(rng.integers(50, 2000))
    body = f"<html><head><title>{code} Error</title></head><body><h1>{code}</h1><p>{filler}</p>"
    return b"<!DOCTYPE html>\n" + body.encode() + b"</body></html>"
  noise = rng.integers(0, 256, int(rng.integers(200, 5000)), dtype=np.uint8).tobytes()
  return gzip.compress(noise, mtime=0)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
  crc = struct.pack(">I", zlib.crc32(kind + payload))
  return struct.pack(">I", len(payload)) + kind + payload + crc


BOMB_SIZES = ((50000, 50000), (40000, 60000), (65000, 65000), (100000, 30000))


def bomb_png(width: int, height: int) -> bytes:
  """About 80 bytes of valid PNG (correct CRCs) whose header claims width x height pixels.

  The IDAT holds only the first rows, so decoding would allocate the full claimed size
  before noticing the data ends.
  """
  ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
  rows = zlib.compress(b"\x00" * (1 + 3 * 64) * 2, 9)
  chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")
  return b"\x89PNG\r\n\x1a\n" + chunks


def truncate(data: bytes, keep: float) -> bytes:
  """The first `keep` share of `data` (0 < keep < 1), at least one byte short of all of it."""
  n = min(len(data) - 1, max(1, int(len(data) * keep)))
  return data[:n]


_BAD_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\x80", b"\xed\xa0\x80", b"\xfe")


def invalid_utf8(caption: str, rng: np.random.Generator) -> bytes:
  """The caption as bytes that do not decode as UTF-8.

  Latin-script captions with accents come out as Windows-1252 half the time (the most
  common real cause); otherwise a bad sequence is spliced in at a character boundary.
  """
  if rng.random() < 0.5:
    try:
      data = caption.encode("cp1252")
      data.decode("utf-8")
    except UnicodeEncodeError:
      pass  # not a cp1252 script
    except UnicodeDecodeError:
      return data
  pos = int(rng.integers(len(caption) + 1))
  bad = _BAD_UTF8[int(rng.integers(len(_BAD_UTF8)))]
  return caption[:pos].encode() + bad + caption[pos:].encode()


_EMPTY = ("", " ", "  ", "\n", "\t", " \n ", "\u00a0", "\u3000", "\r\n")


def empty_caption(rng: np.random.Generator) -> str:
  return _EMPTY[int(rng.integers(len(_EMPTY)))]


def junk_caption(rng: np.random.Generator) -> str:
  """A caption with no letters at all, or nothing but a URL or a camera file name."""
  kind = int(rng.integers(5))
  n = int(rng.integers(1, 10**5))
  if kind == 0:  # punctuation and symbols
    marks = ["!!!", "???", "###", "$$$", "%%%", "***", "...", "---", ">>>", "@@", "&&", "+++"]
    return " ".join(marks[int(i)] for i in rng.integers(len(marks), size=int(rng.integers(2, 5))))
  if kind == 1:  # digits, maybe with separators
    groups = [str(int(g)) for g in rng.integers(0, 10**4, size=int(rng.integers(1, 4)))]
    return rng.choice([" ", "-", "/", "."]).item().join(groups)
  if kind == 2:
    host = ("example.com", "cdn.example.org", "img.example.net", "static.example.com")[n % 4]
    ext = ("jpg", "jpeg", "png", "webp")[n // 4 % 4]
    return f"https://{host}/img/{n}.{ext}"
  if kind == 3:
    pattern = ("IMG_{:04d}.JPG", "DSC{:05d}.jpg", "DSCN{:04d}.JPG", "P{:07d}.JPG")[n % 4]
    return pattern.format(n % 10**4)
  return f"PXL_2023{n % 12 + 1:02d}{n % 28 + 1:02d}_{n:09d}.jpg"
