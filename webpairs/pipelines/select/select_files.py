"""Per annotation file steps of `select`: scan (per-row rules, hash batches), resolve, M4 cells, write.

Each step reads only the columns it needs from the annotation file, so what crosses a
shuffle is small: rule bit masks, hash arrays and the rows that other rows decided on.
"""

from __future__ import annotations

import collections
import json
import logging
import os
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from webpairs.balancing import quotas as quotas_lib
from webpairs.curation import dedup, filters, image, reasons
from webpairs.curation.rules import (
  CAPTION_DUP,
  EVAL_PREFIX,
  EXACT_DUP,
  LANG_QUOTA,
  M4_BALANCE,
  NEAR_DUP,
  SEMANTIC_DUP,
  STATUS,
)
from webpairs.formats import files, selection
from webpairs.pipelines.runtime import batches
from webpairs.pipelines.select import select_balance
from webpairs.pipelines.select.select_plan import ROW_BITS, FileRows, FileState, Resolved, SelectPlan, row_ids

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "webpairs.select"
SCAN_COLUMNS = ("status", "sha256", "phash", "dhash", "caption_norm_hash", "lang")
SHA, BAND, CAPTION, COUNTS = "sha", "band", "caption", "counts"


# A filter column `extra.NAME` is the number NAME of the annotations' `extra` JSON (DataComp scores).
EXTRA_PREFIX = "extra."


def stored_columns(names: Iterable[str]) -> list[str]:
  """The annotation file columns that hold `names` (`extra.X` lives in `extra`)."""
  return sorted({"extra" if n.startswith(EXTRA_PREFIX) else n for n in names})


def _extra_number(value) -> float | None:
  return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_columns(path: str, names: Iterable[str]) -> pa.Table:
  """Columns `names` of an annotation file; `extra.X` as float32 (null when absent or not a number), as text for
  filters.TEXT_COLUMNS.

  float32 as annotation score columns are: the percentile cut is exact in float32.
  """
  names = list(names)
  table = files.read_parquet_columns(path, stored_columns(names))
  wanted = [n for n in names if n.startswith(EXTRA_PREFIX)]
  if wanted:
    parsed = [json.loads(e) if e else {} for e in table.column("extra").to_pylist()]
    for name in wanted:
      field = name[len(EXTRA_PREFIX):]
      if name in filters.TEXT_COLUMNS:
        values = [p.get(field) if isinstance(p.get(field), str) else None for p in parsed]
        table = table.append_column(name, pa.array(values, pa.string()))
      else:
        values = [_extra_number(p.get(field)) for p in parsed]
        table = table.append_column(name, pa.array(values, pa.float64()).cast(pa.float32()))
  return table


def numeric_column(table: pa.Table, name: str) -> np.ndarray:
  """A numeric or boolean column as float64 / bool numpy, nulls as NaN / False."""
  col = table.column(name)
  if pa.types.is_boolean(col.type):
    return np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
  return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _filter_columns(table: pa.Table, names: Iterable[str]) -> dict[str, np.ndarray]:
  out = {}
  for name in names:
    if name in filters.TEXT_COLUMNS:
      out[name] = np.array(table.column(name).to_pylist(), dtype=object)
    else:
      out[name] = numeric_column(table, name)
  return out


def semantic_duplicates(path: str, semantic_dir: str) -> np.ndarray:
  """Rows of an annotation file that `curate semdedup` marked semantic_dup (bool per row)."""
  from webpairs.pipelines.score import semantic_dedup  # pylint: disable=import-outside-toplevel
  table = files.read_parquet_columns(path, ["source", "offset", "key"])
  out = np.zeros(table.num_rows, dtype=bool)
  sources = table.column("source").to_pylist()
  dups = {}
  for i, (source, offset, key) in enumerate(zip(sources, table.column("offset").to_pylist(),
                                                table.column("key").to_pylist())):
    if source not in dups:
      dups[source] = semantic_dedup.read_duplicates(semantic_dir, source)
      if dups[source] is None:
        log.warning("%s: no semdedup verdicts in %s; no semantic_dup rejects there", source, semantic_dir)
    out[i] = dups[source] is not None and (offset, key) in dups[source]
  return out


def row_embeddings(path: str, scores_dir: str) -> tuple[np.ndarray, np.ndarray]:
  """(rows, float32 [len(rows), d] image embeddings) of an annotation file's rows that `curate score --embeddings`
  embedded, read from the shards' score files in `scores_dir`."""
  from webpairs.pipelines.score import score_files  # pylint: disable=import-outside-toplevel
  table = files.read_parquet_columns(path, ["source", "offset", "key"])
  by_source: dict[str, dict] = {}
  rows, vectors = [], []
  for i, (source, offset, key) in enumerate(zip(table.column("source").to_pylist(), table.column("offset").to_pylist(),
                                                table.column("key").to_pylist())):
    if source not in by_source:
      found = score_files.read_embedding_rows(scores_dir, source)
      if found is None:
        log.warning("%s: no score file with embeddings in %s; not checked against embedding indexes", source,
                    scores_dir)
      by_source[source] = found or {}
    vector = by_source[source].get((offset, key))
    if vector is not None:
      rows.append(i)
      vectors.append(vector)
  emb = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
  return np.asarray(rows, np.int64), emb


WINDOW_COLUMNS = ("window_phash", "window_dhash")
WINDOWS = "w"  # marks a band batch of window hashes (duplicates.WINDOWS)
CORNERS = "c"  # marks a batch of corner window hashes (duplicates.CORNERS), keyed by dedup.corner_keys
ASPECT_COLUMN = "content_aspect"


def read_window_columns(path: str) -> pa.Table:
  """The window hash and content aspect columns that the file has (one footer read, one column read):
  files of annotation format < 6 have neither, early format-6 files no content_aspect."""
  names = set(files.read_parquet_metadata(path).schema.to_arrow_schema().names)
  return files.read_parquet_columns(path, [c for c in (*WINDOW_COLUMNS, ASPECT_COLUMN) if c in names])


def window_hashes(table: pa.Table, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
  """(window phashes, window dhashes, valid) as (n, K) uint64, (n, K), (n,) bool; None without the window
  columns. K is the file's windows per image: image.N_WINDOWS (format 7: the grid's, then the corners'),
  or N_GRID_WINDOWS in files of annotation format 6 (the grid only). Rows without hashes or with another
  number of windows are not valid."""
  if not set(WINDOW_COLUMNS) <= set(table.column_names):
    return None
  cols = [table.column(name).combine_chunks() for name in WINDOW_COLUMNS]
  lengths = [np.asarray(pc.list_value_length(c).fill_null(0).to_numpy(zero_copy_only=False), np.int64) for c in cols]
  # One annotate run writes one K a file; take the larger one seen, so a file of one format keeps all its rows.
  k = image.N_WINDOWS if (lengths[0] == image.N_WINDOWS).any() else image.N_GRID_WINDOWS
  out, valid = [], np.ones(n, dtype=bool)
  for col, length in zip(cols, lengths):
    flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.uint64)
    starts = np.cumsum(length) - length
    ok = length == k
    values = np.zeros((n, k), np.uint64)
    values[ok] = flat[starts[ok][:, None] + np.arange(k)]
    out.append(values)
    valid &= ok
  return out[0], out[1], valid


def content_aspect_codes(table: pa.Table, n: int) -> np.ndarray:
  """(n,) int8 `dedup.aspect_codes` of the rows' content_aspect; all ASPECT_UNKNOWN without the column
  (annotated before it), so window pairs of its rows are linked without the aspect check."""
  if ASPECT_COLUMN not in table.column_names:
    return np.full(n, dedup.ASPECT_UNKNOWN, np.int8)
  col = table.column(ASPECT_COLUMN)
  return dedup.aspect_codes(np.asarray(col.to_numpy(zero_copy_only=False), np.float64))


def _file_batches(parts: np.ndarray, *arrays: np.ndarray, ids_at: int = -1):
  """batches.split of one file's rows, array `ids_at` (their row ids) as FileRows: 2 bytes a row, not 8."""
  for part, split in batches.split(parts, *arrays):
    split = list(split)
    split[ids_at] = FileRows.of(split[ids_at])
    yield part, tuple(split)


class ScanFile(beam.DoFn):
  """(file index, path) -> (index, FileState), plus hash batches keyed by partition (tagged SHA, BAND, CAPTION)."""

  def __init__(self, plan: SelectPlan):
    self._plan = plan
    self._rows = Metrics.counter(METRICS_NAMESPACE, "rows")
    self._no_windows = Metrics.counter(METRICS_NAMESPACE, "files_without_windows")

  def process(self, item: tuple[int, str], score_cut: float | None = None):
    index, path = item
    plan = self._plan
    wanted = sorted(set(SCAN_COLUMNS) | set(filters.columns_needed(plan.filters)))
    table = read_columns(path, wanted)
    n = table.num_rows
    rules = plan.rules
    status = table.column("status").to_pylist()
    masks = np.zeros(n, dtype=np.uint64)
    masks[np.array([s != reasons.OK for s in status], dtype=bool)] |= rules.bit(STATUS)
    phash, p_ok = dedup.hex_u64(table.column("phash").to_pylist())
    dhash, d_ok = dedup.hex_u64(table.column("dhash").to_pylist())
    hashed = np.flatnonzero(p_ok & d_ok)
    for name, matcher in plan.matchers:
      hit = hashed[matcher.match(phash[hashed], dhash[hashed])]
      masks[hit] |= rules.bit(EVAL_PREFIX + name)
    if plan.embedding_matchers:
      rows, emb = row_embeddings(path, plan.config["eval"]["scores_dir"])
      for name, matcher in plan.embedding_matchers:
        masks[rows[matcher.match(emb)]] |= rules.bit(EVAL_PREFIX + name)
    if plan.dedup.get("semantic_dir"):
      masks[semantic_duplicates(path, plan.dedup["semantic_dir"])] |= rules.bit(SEMANTIC_DUP)
    cols = _filter_columns(table, filters.columns_needed(plan.filters))
    for name, fails in filters.evaluate(cols, plan.filters, score_cut).items():
      masks[fails] |= rules.bit(name)
    lang = [l or quotas_lib.UND for l in table.column("lang").to_pylist()]
    self._rows.inc(n)
    yield index, FileState(path, masks, lang)

    ids = row_ids(index, n)
    d = plan.dedup
    if d["exact"]:
      shas = table.column("sha256").to_pylist()
      has = np.array([s is not None for s in shas], dtype=bool)
      digests = np.array([bytes.fromhex(s) for s in shas if s is not None], dtype="S32")
      sha64, _ = dedup.hex_u64([s[:16] for s in shas if s is not None])
      for part, arrays in _file_batches(dedup.partition_of(sha64, plan.partitions), digests, ids[has]):
        yield pvalue.TaggedOutput(SHA, (part, arrays))
    if d["near"] and len(hashed):
      bits = int(d["band_bits"])
      bands = dedup.band_values(phash[hashed], dhash[hashed], bits)
      # With windows, the window bands' batches carry each row's content aspect code (int8) for window_pairs.
      window_bands = set(dedup.window_bands(bits, int(d["window_band_stride"]))) if d["windows"] else set()
      window_table = read_window_columns(path) if d["windows"] else None
      aspect = content_aspect_codes(window_table, n) if d["windows"] else None
      for j in range(bands.shape[1]):
        parts = dedup.partition_of(bands[:, j], plan.partitions)
        extra = (aspect[hashed],) if j in window_bands else ()
        for part, arrays in _file_batches(parts, phash[hashed], dhash[hashed], ids[hashed], *extra, ids_at=2):
          yield pvalue.TaggedOutput(BAND, ((j, part), arrays))
      if d["windows"]:
        found = window_hashes(window_table, n)
        if found is None:
          self._no_windows.inc()
          log.warning("%s has no window hashes (annotation format < 6): its rows are matched without them", path)
        else:
          wp, wd, w_ok = found
          rows = np.flatnonzero(w_ok & p_ok & d_ok)
          k = image.N_GRID_WINDOWS
          gp, gd, wids = wp[rows, :k].reshape(-1), wd[rows, :k].reshape(-1), np.repeat(ids[rows], k)
          wasp = np.repeat(aspect[rows], k)
          for j in sorted(window_bands):
            parts = dedup.partition_of(dedup.band_values(gp, gd, bits, only=j), plan.partitions)
            for part, arrays in _file_batches(parts, gp, gd, wids, wasp, ids_at=2):
              yield pvalue.TaggedOutput(BAND, ((j, part), arrays + (WINDOWS,)))
          if d["corners"] and wp.shape[1] == image.N_WINDOWS:
            # Format 7's corner windows: each corner in its own keys, with the content dHash for the guard;
            # rows without a content aspect (none in format-7 files) are left out, the aspect being a guard.
            rows = rows[aspect[rows] != dedup.ASPECT_UNKNOWN]
            for c, key in enumerate(dedup.corner_keys(bits, image.N_CORNERS)):
              cp, cd = wp[rows, k + c], wd[rows, k + c]
              parts = dedup.partition_of(dedup.band_values(cp, cd, bits, only=dedup.CORNER_BAND), plan.partitions)
              for part, arrays in _file_batches(parts, cp, cd, ids[rows], aspect[rows], dhash[rows], ids_at=2):
                yield pvalue.TaggedOutput(BAND, ((key, part), arrays + (CORNERS,)))
    if d["caption_max_images"]:
      chash, c_ok = dedup.hex_u64(table.column("caption_norm_hash").to_pylist())
      rows = np.flatnonzero(c_ok & p_ok)  # an image identity: its phash
      parts = dedup.partition_of(chash[rows], plan.partitions)
      for part, arrays in _file_batches(parts, chash[rows], phash[rows], ids[rows]):
        yield pvalue.TaggedOutput(CAPTION, (part, arrays))


class ResolveFile(beam.DoFn):
  """(index, {state, clusters, caption}) -> Resolved; pool counts per language tagged COUNTS."""

  def __init__(self, plan: SelectPlan):
    self._rules = plan.rules

  def process(self, item):
    index, grouped = item
    state: FileState = grouped["state"][0]
    masks = state.masks.copy()
    cluster: dict[int, str] = {}
    canonical = 0
    for rows, labels, copies in grouped["clusters"]:
      for row, label, is_copy in zip(rows, labels, copies):
        cluster[row] = selection.example_id(label[2], label[1])
        if label[3] == (index << ROW_BITS) | row:
          canonical += 1
        else:
          masks[row] |= self._rules.bit(EXACT_DUP if is_copy else NEAR_DUP)
    for rows in grouped["caption"]:
      masks[rows] |= self._rules.bit(CAPTION_DUP)
    pool = collections.Counter(l for l, m in zip(state.lang, masks.tolist()) if m == 0)
    yield pvalue.TaggedOutput(COUNTS, dict(pool))
    yield Resolved(state.path, masks, state.lang, cluster, canonical)


def read_file(plan: SelectPlan, path: str) -> tuple[pa.Table, list[str]]:
  """The annotation columns the last steps need (balance's included) and each row's example id."""
  extra = plan.balance.columns if plan.balance else []
  table = read_columns(path, sorted({"key", "source", "offset", "status", *extra}))  # extra.NAME utilities too
  ids = [selection.example_id(s, k) for s, k in zip(table.column("source").to_pylist(),
                                                    table.column("key").to_pylist())]
  return table, ids


def apply_quotas(plan: SelectPlan, res: Resolved, quota: quotas_lib.QuotaPlan,
                 ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
  """(masks with the lang_quota bits, copies per row): rows that pass every other rule get theirs."""
  masks = res.masks.copy()
  pool = np.flatnonzero(masks == 0)
  repeat = np.zeros(len(ids), dtype=np.int32)
  factors = np.array([quota.factor(res.lang[i]) for i in pool.tolist()], dtype=np.float64)
  repeat[pool] = quotas_lib.repeats(factors, quotas_lib.key_uniforms([ids[i] for i in pool], plan.seed))
  masks[pool[repeat[pool] == 0]] |= plan.rules.bit(LANG_QUOTA)
  return masks, repeat


class PoolCells(beam.DoFn):
  """Resolved file + quota plan -> M4 cell statistics of its pool, each row weighted by its copies.

  Tagged INPUT: the cells of its rows that annotate passed, once each (bias before any rule).
  """

  def __init__(self, plan: SelectPlan):
    self._plan = plan
    self._indicators = select_balance.Indicators(plan.balance)

  def process(self, res: Resolved, quota: quotas_lib.QuotaPlan):
    table, ids = read_file(self._plan, res.path)
    s, y, u = self._indicators(table, res.path)
    _, repeat = apply_quotas(self._plan, res, quota, ids)
    annotated = np.flatnonzero((res.masks & self._plan.rules.bit(STATUS)) == 0)
    yield pvalue.TaggedOutput(select_balance.INPUT,
                              select_balance.weighted_cells(self._plan.balance, s, y, u, annotated, None))
    pool = np.flatnonzero(repeat > 0)
    yield select_balance.weighted_cells(self._plan.balance, s, y, u, pool, repeat[pool])


class WriteSelection(beam.DoFn):
  """Resolved file + quota plan (+ M4 fit) -> its selection file; yields the file's summary counts.

  With balancing, the kept rows' cell statistics are tagged KEPT (the realised bias after).
  """

  def __init__(self, plan: SelectPlan, output_dir: str):
    self._plan = plan
    self._output_dir = output_dir
    self._balance = select_balance.ApplyBalance(plan.balance) if plan.balance else None
    self._kept = Metrics.counter(METRICS_NAMESPACE, "kept")
    self._files = Metrics.counter(METRICS_NAMESPACE, "files")

  def process(self, res: Resolved, quota: quotas_lib.QuotaPlan, balance: dict | None = None):
    rules = self._plan.rules
    table, ids = read_file(self._plan, res.path)
    keys, sources = table.column("key").to_pylist(), table.column("source").to_pylist()
    status = table.column("status").to_pylist()
    pool = np.flatnonzero(res.masks == 0)  # what the quotas were planned on
    masks, repeat = apply_quotas(self._plan, res, quota, ids)
    if self._balance is not None:
      dropped, kept_cells = self._balance(balance, table, res.path, ids, repeat)
      masks[dropped] |= rules.bit(M4_BALANCE)
      repeat[dropped] = 0
      yield pvalue.TaggedOutput(select_balance.KEPT, kept_cells)
    keep = masks == 0
    reason = rules.reason(masks, status)
    out = pa.table({
        "source": sources,
        "offset": table.column("offset").cast(pa.int64()),
        "key": keys,
        "keep": keep,
        "repeat": repeat,
        "cluster_id": [res.cluster.get(i, ids[i]) for i in range(len(ids))],
        "reason": reason,
        "reasons": rules.all_reasons(masks, status),
        "lang": res.lang,
    }, schema=selection.SELECTION_SCHEMA)
    meta = {"annotations": os.path.basename(res.path), "config_hash": self._plan.config_hash,
            "format": selection.FORMAT_VERSION}
    out = out.replace_schema_metadata({b"webpairs": json.dumps(meta, sort_keys=True).encode("utf-8")})
    files.write_parquet_atomic(selection.selection_path(self._output_dir, res.path), out)
    self._kept.inc(int(keep.sum()))
    self._files.inc()
    reason_counts = collections.Counter(reason)
    for name, n in reason_counts.items():
      Metrics.counter(METRICS_NAMESPACE, f"reason.{name}").inc(n)
    after: dict[str, int] = collections.Counter()
    for i in np.flatnonzero(keep).tolist():
      after[res.lang[i]] += int(repeat[i])
    yield {
        "files": 1,
        "input_examples": len(ids),
        "kept": int(keep.sum()),
        "written": int(repeat.sum()),
        "reason_counts": dict(reason_counts),
        "rule_failure_counts": rules.failure_counts(masks, status),
        "lang_before": dict(collections.Counter(res.lang)),
        "lang_pool": dict(collections.Counter(res.lang[i] for i in pool.tolist())),
        "lang_after": dict(after),
        "near_dup": {"clusters": res.canonical, "rows_in_clusters": len(res.cluster)},
    }
