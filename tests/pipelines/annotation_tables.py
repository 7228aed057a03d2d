"""Generated annotation tables in the annotate job's schema, for select tests and benchmarks.

Annotating real images is slow; select never reads images, so for counts, quotas and
scale a table with planted exact and near duplicates, boilerplate captions, a known
language mix and biased balancing indicators is enough. Vectorised: a million rows take seconds.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webpairs.curation import image
from webpairs.formats.annotation_files import ANNOTATION_SCHEMA

LANG_WEIGHTS = {"en": 0.55, "es": 0.08, "de": 0.07, "fr": 0.07, "ja": 0.05, "ru": 0.05, "zh": 0.05,
                "id": 0.03, "tr": 0.025, "vi": 0.01, "hi": 0.004, "sw": 0.003, "yo": 0.003}
REJECT_STATUSES = ("corrupt_image", "empty_caption", "missing_image", "truncated_image")
# What the file metadata says made attr_s / concept_y (annotate records its annotator's describe()).
INDICATORS = {"annotator": "generated", "attributes": ["female", "male"],
              "concepts": ["doctor", "nurse", "engineer", "teacher", "pilot", "farmer"]}


@dataclasses.dataclass
class Planted:
  """What a generated table holds, by global row number."""

  exact_of: dict[int, int]  # row -> row it is a byte copy of
  near_of: dict[int, int]  # row -> row it is a near-duplicate of
  boilerplate: np.ndarray  # rows with a boilerplate caption
  statuses: np.ndarray  # annotate status per row
  langs: np.ndarray
  s: np.ndarray  # (n, 2) attributes as written (null rows: zeros)
  y: np.ndarray  # (n, 6) concepts as written


def _hex(values: np.ndarray) -> list[str]:
  return [f"{v:016x}" for v in values.tolist()]


def _flip(rng: np.random.Generator, values: np.ndarray, max_bits: int) -> np.ndarray:
  """Each value with 0..max_bits random bits flipped (as many distinct bits as drawn)."""
  out = values.copy()
  counts = rng.integers(0, max_bits + 1, len(values))
  for k in range(max_bits):
    bit = np.uint64(1) << rng.integers(0, 64, len(values)).astype(np.uint64)
    out = np.where(counts > k, out ^ bit, out)
  return out


def _indicators(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
  """Perceived gender in ~40% of rows, 70/30 male/female; occupations lean to one side."""
  has = rng.random(n) < 0.4
  male = has & (rng.random(n) < 0.7)
  female = has & ~male
  c = len(INDICATORS["concepts"])
  base = np.linspace(0.03, 0.12, c)
  lift = 0.06 * np.where(np.arange(c) % 2 == 0, 1.0, -0.6)
  p = base + lift * male[:, None] - lift * female[:, None]
  return np.stack([female, male], 1), rng.random((n, c)) < np.clip(p, 0.0, 1.0)


def _lists(rows: np.ndarray, null: np.ndarray) -> pa.ListArray:
  """(n, k) bool (or uint64) -> list<bool> (list<uint64>) with `null` rows null, built without Python lists."""
  n, k = rows.shape
  offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k)
  return pa.ListArray.from_arrays(offsets, pa.array(rows.reshape(-1)), mask=pa.array(null))


WINDOWS = image.N_WINDOWS  # annotate's window hashes per image (format 7)


def columns(rng: np.random.Generator, lang: np.ndarray, sha_hi: np.ndarray, phash: np.ndarray, dhash: np.ndarray,
            caption: np.ndarray, reject_rate: float) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
  """The annotation columns of rows with these languages and hashes: (columns, statuses, s, y).

  Everything else (statuses, sizes, text features, indicators) is drawn from `rng`.
  """
  n = len(lang)
  status = np.full(n, "ok", dtype=object)
  rejected = rng.random(n) < reject_rate
  status[rejected] = np.array(REJECT_STATUSES, dtype=object)[rng.integers(0, len(REJECT_STATUSES), rejected.sum())]
  no_image = np.isin(status, ["corrupt_image", "missing_image", "truncated_image"])
  width = rng.integers(64, 1600, n).astype(np.int32)
  height = (width * np.exp(rng.uniform(-1.0, 1.0, n))).clip(16, 4000).astype(np.int32)
  n_words = rng.integers(1, 30, n).astype(np.int32)
  n_chars = (n_words * rng.uniform(3.0, 8.0, n)).astype(np.int32)
  sha = [f"{h:016x}" + "0" * 48 for h in sha_hi.tolist()]
  s, y = _indicators(rng, n)
  no_caption = status == "empty_caption"  # annotate leaves indicators null without a caption
  s[no_caption], y[no_caption] = False, False
  p_hex, d_hex = _hex(phash), _hex(dhash)
  cols = {
      "key": [f"{i:09d}" for i in range(n)],
      "offset": np.arange(n, dtype=np.int64),
      "url": [None] * n,
      "status": status.tolist(),
      "status_detail": ["" if s == "ok" else s for s in status.tolist()],
      "width": pa.array(width, mask=no_image & (status != "truncated_image")),
      "height": pa.array(height, mask=no_image & (status != "truncated_image")),
      "original_width": pa.array(width, mask=no_image & (status != "truncated_image")),
      "original_height": pa.array(height, mask=no_image & (status != "truncated_image")),
      "image_format": ["jpeg"] * n,
      "image_bytes": rng.integers(1000, 500000, n),
      "sha256": [None if s == "missing_image" else h for s, h in zip(status.tolist(), sha)],
      "phash": [None if bad else h for bad, h in zip(no_image.tolist(), p_hex)],
      "dhash": [None if bad else h for bad, h in zip(no_image.tolist(), d_hex)],
      "caption": [None] * n,
      "caption_norm_hash": _hex(caption),
      "lang": lang.tolist(),
      "lang_score": rng.uniform(0.3, 1.0, n).astype(np.float32),
      "lid_lang": lang.tolist(),
      "page_lang": [None] * n,
      "n_chars": n_chars,
      "n_words": n_words,
      "letter_ratio": rng.uniform(0.5, 1.0, n).astype(np.float32),
      "digit_ratio": rng.uniform(0.0, 0.2, n).astype(np.float32),
      "symbol_ratio": rng.uniform(0.0, 0.2, n).astype(np.float32),
      "upper_ratio": rng.uniform(0.0, 0.3, n).astype(np.float32),
      "has_url": rng.random(n) < 0.02,
      "has_html": rng.random(n) < 0.01,
      "repetition_ratio": rng.uniform(0.0, 0.3, n).astype(np.float32),
      "attr_s": _lists(s, no_caption),
      "concept_y": _lists(y, no_caption),
      "regions": [None] * n,
      "extra": [None] * n,
  }
  return cols, status, s, y


def write_tables(out_dir: str | pathlib.Path, num_rows: int, *, num_files: int = 4, seed: int = 0,
                 exact_rate: float = 0.03, near_rate: float = 0.03, boilerplate_rate: float = 0.0,
                 reject_rate: float = 0.03, langs: dict[str, float] | None = None,
                 score_column: str | None = None, indicators: bool = True, windows: bool = True) -> Planted:
  """Writes OUT/annotations-<k>.parquet (k < num_files) holding `num_rows` rows in total.

  `indicators=False`: files as annotate wrote them before it had attr_s / concept_y names.
  `windows=False`: files of annotation format < 6, without window_phash / window_dhash / content_aspect.
  Window hashes are random per image (unrelated to its phash), copied by exact duplicates and copied
  with a few bits flipped by near ones, content aspects random and copied by both; they come from
  their own generator, so the rest of a table does not depend on `windows`.
  """
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  n = num_rows
  weights = langs or LANG_WEIGHTS
  names = np.array(list(weights), dtype=object)
  p = np.array(list(weights.values()), dtype=np.float64)
  lang = names[rng.choice(len(names), n, p=p / p.sum())]

  sha_hi = rng.integers(0, 2**64, n, dtype=np.uint64)
  phash = rng.integers(0, 2**64, n, dtype=np.uint64)
  dhash = rng.integers(0, 2**64, n, dtype=np.uint64)
  caption = rng.integers(0, 2**64, n, dtype=np.uint64)
  # Duplicates copy an earlier clean row: exact ones its bytes, near ones its hashes with
  # a few bits flipped.
  kind = rng.random(n)
  kind[0] = 1.0
  exact_rows = np.flatnonzero(kind < exact_rate)
  near_rows = np.flatnonzero((kind >= exact_rate) & (kind < exact_rate + near_rate))
  clean = np.flatnonzero(kind >= exact_rate + near_rate)

  def sources(rows: np.ndarray) -> np.ndarray:
    earlier = np.searchsorted(clean, rows)  # clean rows before each duplicate (>= 1: row 0 is clean)
    return clean[(rng.random(len(rows)) * earlier).astype(np.int64)]

  exact_src, near_src = sources(exact_rows), sources(near_rows)
  sha_hi[exact_rows], phash[exact_rows], dhash[exact_rows] = sha_hi[exact_src], phash[exact_src], dhash[exact_src]
  phash[near_rows] = _flip(rng, phash[near_src], 4)
  dhash[near_rows] = _flip(rng, dhash[near_src], 4)
  boiler = np.flatnonzero(rng.random(n) < boilerplate_rate)
  caption[boiler] = np.uint64(0xB0B0B0B0B0B0B0B0) + rng.integers(0, 3, len(boiler)).astype(np.uint64)

  cols, status, s, y = columns(rng, lang, sha_hi, phash, dhash, caption, reject_rate)
  schema = ANNOTATION_SCHEMA
  if windows:
    wrng = np.random.default_rng([seed, 6])
    no_hash = np.isin(status, ["corrupt_image", "missing_image", "truncated_image"])
    for name in ("window_phash", "window_dhash"):
      w = wrng.integers(0, 2**64, (n, WINDOWS), dtype=np.uint64)
      w[exact_rows] = w[exact_src]
      w[near_rows] = _flip(wrng, w[near_src].reshape(-1), 4).reshape(-1, WINDOWS)
      cols[name] = _lists(w, no_hash)
    aspect = (2.0 ** wrng.uniform(-1, 1, n)).astype(np.float32)  # content width / height, 0.5 to 2
    aspect[exact_rows], aspect[near_rows] = aspect[exact_src], aspect[near_src]
    cols["content_aspect"] = [None if x else float(a) for a, x in zip(aspect.tolist(), no_hash.tolist())]
  else:
    schema = pa.schema([f for f in schema if f.name not in ("window_phash", "window_dhash", "content_aspect")])
  if score_column:
    cols[score_column] = rng.normal(0.3, 0.05, n).astype(np.float32)
    schema = schema.append(pa.field(score_column, pa.float32()))
  bounds = np.linspace(0, n, num_files + 1).astype(int)
  for k in range(num_files):
    lo, hi = int(bounds[k]), int(bounds[k + 1])
    source = f"/data/raw/{k:05d}.tar"
    part = {name: (col[lo:hi] if not isinstance(col, list) else col[lo:hi]) for name, col in cols.items()}
    part["source"] = [source] * (hi - lo)
    part["offset"] = np.arange(hi - lo, dtype=np.int64)
    table = pa.table({name: part[name] for name in schema.names}, schema=schema)
    if indicators:
      table = table.replace_schema_metadata({b"webpairs": json.dumps({"indicators": INDICATORS}).encode()})
    pq.write_table(table, out / f"annotations-{k:05d}.parquet")
  return Planted(dict(zip(exact_rows.tolist(), exact_src.tolist())), dict(zip(near_rows.tolist(), near_src.tolist())),
                 boiler, status, lang, s, y)
