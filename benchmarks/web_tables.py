"""Web-like annotation tables of any size, written file by file (memory bounded by one file).

Duplicate structure: exact copies (3%) and near copies (3%) of an earlier image anywhere
in the data, near-duplicate chains (1% of rows) of lengths 2..2,000 whose members lie in
random files, each member within the threshold of the next only, copies of eval-set
images (0.1%), and 120 languages with Zipf shares. Hashes are pure functions of an
image number, so a copy in file 300 of an image in file 2 needs nothing kept in memory.
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pipelines import annotation_tables  # noqa: E402  pylint: disable=wrong-import-position
from webpairs.curation import eval_index  # noqa: E402  pylint: disable=wrong-import-position
from webpairs.formats import files  # noqa: E402  pylint: disable=wrong-import-position
from webpairs.formats.annotation_files import ANNOTATION_SCHEMA  # noqa: E402  pylint: disable=wrong-import-position

ROWS_PER_FILE = 25_000  # about what one annotate shard file holds at img2dataset's shard size
EXACT, NEAR, CHAIN, EVAL = 0.03, 0.03, 0.01, 0.001
EVAL_IMAGES = 5000
CHAIN_TEMPLATES = 4  # chain hash walks; each chain is one XOR-ed with its own random mask
MAX_CHAIN = 2000
THRESHOLD = 10
LANGS = [f"l{i:03d}" for i in range(120)]
LANG_P = 1.0 / np.arange(1, len(LANGS) + 1) ** 1.1
LANG_P /= LANG_P.sum()


WINDOWS = annotation_tables.WINDOWS


def _mix(x: np.ndarray, salt: int) -> np.ndarray:
  """splitmix64 of uint64 values: a fixed pseudo-random function of an id."""
  with np.errstate(over="ignore"):
    z = np.asarray(x, np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (salt + 1)) % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _flips(key: np.ndarray, bits: int, salt: int) -> np.ndarray:
  """A mask of up to `bits` set bits per key (distinct draws may coincide)."""
  out = np.zeros(len(key), np.uint64)
  for k in range(bits):
    out |= np.uint64(1) << (_mix(key, salt * 16 + k) % np.uint64(64))
  return out


def _chain_walk(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(phash, dhash) of n steps, each within the threshold of the next only (checked, vectorised)."""
  p, d = [int(rng.integers(0, 2**63))], [int(rng.integers(0, 2**63))]
  pa_, da_ = np.zeros(n, np.uint64), np.zeros(n, np.uint64)
  pa_[0], da_[0] = p[0], d[0]
  k = 1
  while k < n:
    band = k % 4  # the pair shares this 16-bit LSH band, so the link is found
    cand = [b for b in range(64) if b // 16 != band]
    fp = sum(1 << int(b) for b in rng.choice(cand, 6, replace=False))
    fd = sum(1 << int(b) for b in rng.choice(cand, 6, replace=False))
    cp, cd = np.uint64(int(pa_[k - 1]) ^ fp), np.uint64(int(da_[k - 1]) ^ fd)
    if k >= 2:
      dp = np.bitwise_count(pa_[:k - 1] ^ cp)
      dd = np.bitwise_count(da_[:k - 1] ^ cd)
      if ((dp <= THRESHOLD) & (dd <= THRESHOLD)).any():
        continue
    pa_[k], da_[k] = cp, cd
    k += 1
  return pa_, da_


class WebTables:
  """The rows of a generated web-scale table, one file at a time."""

  def __init__(self, num_rows: int, seed: int = 0):
    self.num_rows = num_rows
    self.seed = seed
    rng = np.random.default_rng(seed)
    self._walks = [_chain_walk(rng, MAX_CHAIN) for _ in range(CHAIN_TEMPLATES)]
    # Chains: lengths from a heavy tail, members at random rows (1% of the rows in all).
    lengths = []
    while sum(lengths) < CHAIN * num_rows:
      lengths.append(int(min(MAX_CHAIN, 2 + rng.pareto(1.2) * 3)))
    members = rng.choice(num_rows, sum(lengths), replace=False) if lengths else np.zeros(0, np.int64)
    chain_of = np.repeat(np.arange(len(lengths)), lengths)
    step = np.concatenate([np.arange(n) for n in lengths]) if lengths else np.zeros(0, np.int64)
    order = np.argsort(members)
    self._chain_rows, self._chain_of, self._chain_step = members[order], chain_of[order], step[order]
    self.chains = lengths
    eval_ids = np.arange(EVAL_IMAGES, dtype=np.uint64)
    self.eval_phash, self.eval_dhash = _mix(eval_ids, 101), _mix(eval_ids, 102)

  def write_eval_index(self, path: str) -> str:
    index = eval_index.make_index("bench", [f"eval/{i:05d}.jpg" for i in range(EVAL_IMAGES)],
                                  self.eval_phash.tolist(), self.eval_dhash.tolist())
    files.write_parquet_atomic(path, eval_index.to_table(index))
    return path

  def rows(self, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Hashes and languages of global rows [lo, hi)."""
    r = np.arange(lo, hi, dtype=np.uint64)
    u = _mix(r, self.seed).astype(np.float64) / 2.0**64
    # Copies point to an earlier image: its number is a row number (any file), and a
    # row's own image number is its row number unless it is a copy.
    earlier = (_mix(r, self.seed + 7) % np.maximum(r, np.uint64(1))).astype(np.uint64)
    image = np.where(u < EXACT + NEAR, earlier, r)
    sha = _mix(image, 1)
    phash, dhash = _mix(image, 2), _mix(image, 3)
    near = (u >= EXACT) & (u < EXACT + NEAR)
    phash[near] ^= _flips(r[near], 4, 4)
    dhash[near] ^= _flips(r[near], 4, 5)
    sha[near] = _mix(r[near], 6)  # other bytes
    ev = (u >= EXACT + NEAR) & (u < EXACT + NEAR + EVAL)
    which = (_mix(r[ev], 8) % np.uint64(EVAL_IMAGES)).astype(np.int64)
    phash[ev] = self.eval_phash[which] ^ _flips(r[ev], 3, 9)
    dhash[ev] = self.eval_dhash[which] ^ _flips(r[ev], 3, 10)
    a, b = np.searchsorted(self._chain_rows, [lo, hi])
    if b > a:
      idx = (self._chain_rows[a:b] - lo).astype(np.int64)
      chain, step = self._chain_of[a:b], self._chain_step[a:b]
      for t in range(CHAIN_TEMPLATES):
        sel = chain % CHAIN_TEMPLATES == t
        mask_p = _mix(chain[sel].astype(np.uint64), 11)
        mask_d = _mix(chain[sel].astype(np.uint64), 12)
        phash[idx[sel]] = self._walks[t][0][step[sel]] ^ mask_p
        dhash[idx[sel]] = self._walks[t][1][step[sel]] ^ mask_d
        sha[idx[sel]] = _mix(r[idx[sel]], 13)
    caption = _mix(image, 14)
    caption[u > 0.995] = np.uint64(0xB0B0B0B0B0B0B0B0)  # boilerplate captions
    lang = np.array(LANGS, dtype=object)[np.searchsorted(np.cumsum(LANG_P), _mix(r, 15).astype(np.float64)
                                                         / 2.0**64).clip(0, len(LANGS) - 1)]
    # Window hashes (annotation format 6): a pseudo-random function of the image, near copies
    # with the bits flipped as in their phash / dhash; chain steps and eval copies get their own.
    win = np.arange(WINDOWS, dtype=np.uint64)[None, :]
    own = np.where(ev, r + np.uint64(1 << 62), image)
    window_phash = _mix(own[:, None] * np.uint64(WINDOWS) + win, 16)
    window_dhash = _mix(own[:, None] * np.uint64(WINDOWS) + win, 17)
    window_phash[near] ^= _flips(r[near], 4, 4)[:, None]
    window_dhash[near] ^= _flips(r[near], 4, 5)[:, None]
    if b > a:
      window_phash[idx] = _mix(r[idx][:, None] * np.uint64(WINDOWS) + win, 18)
      window_dhash[idx] = _mix(r[idx][:, None] * np.uint64(WINDOWS) + win, 19)
    # Content aspect (width / height inside bars, 0.5 to 2): a function of the image, kept by near copies.
    aspect = (2.0 ** (_mix(own, 20).astype(np.float64) / 2.0**63 - 1)).astype(np.float32)
    return {"sha": sha, "phash": phash, "dhash": dhash, "caption": caption, "lang": lang,
            "window_phash": window_phash, "window_dhash": window_dhash, "content_aspect": aspect}

  def write(self, out_dir: str | pathlib.Path, rows_per_file: int = ROWS_PER_FILE) -> list[pathlib.Path]:
    """Writes OUT/annotations-<k>.parquet; returns the paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    meta = {b"webpairs": json.dumps({"indicators": annotation_tables.INDICATORS}).encode()}
    for k, lo in enumerate(range(0, self.num_rows, rows_per_file)):
      hi = min(self.num_rows, lo + rows_per_file)
      g = self.rows(lo, hi)
      rng = np.random.default_rng([self.seed, k])
      cols, status, _, _ = annotation_tables.columns(rng, g["lang"], g["sha"], g["phash"], g["dhash"], g["caption"],
                                                      reject_rate=0.03)
      no_hash = np.isin(status, ["corrupt_image", "missing_image", "truncated_image"])
      for name in ("window_phash", "window_dhash"):
        cols[name] = annotation_tables._lists(g[name], no_hash)  # pylint: disable=protected-access
      cols["content_aspect"] = [None if x else a for a, x in zip(g["content_aspect"].tolist(), no_hash.tolist())]
      cols["key"] = [f"{i:011d}" for i in range(lo, hi)]
      cols["source"] = [f"/data/raw/{k:06d}.tar"] * (hi - lo)
      table = pa.table({name: cols[name] for name in ANNOTATION_SCHEMA.names}, schema=ANNOTATION_SCHEMA)
      path = out / f"annotations-{k:06d}.parquet"
      pq.write_table(table.replace_schema_metadata(meta), path)
      paths.append(path)
    return paths
