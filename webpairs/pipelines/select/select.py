"""The `select` job: annotations + a curation config -> SEL/selection-*.parquet and SEL/summary.json.

Metadata only, never image bytes. Rules that need one row (annotate status, eval-set
overlap, filters) are evaluated where an annotation file is read. Rules that need other
rows are computed from hashes grouped by value range: exact duplicates by sha256, near
duplicates by LSH bands of phash and dhash, caption reuse by caption hash. Duplicate
pairs become clusters (pipelines/select/duplicates.py, pipelines/select/components.py); the results
join back per annotation file, language quotas are planned from the global counts of
what is left, M4 balancing (if on) is fitted once on the summed cell statistics of what
the quotas keep (pipelines/select/select_balance.py), and each file gets its selection file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

import apache_beam as beam
import ml_collections

from webpairs.balancing import m4
from webpairs.balancing import quotas as quotas_lib
from webpairs.configs.curation import load_curation_config
from webpairs.curation import components as cc
from webpairs.curation import dedup
from webpairs.curation import filters
from webpairs.curation.rules import STATUS
from webpairs.formats import files, selection
from webpairs.formats.annotation_files import annotations_glob
from webpairs.pipelines.runtime import job, shuffle
from webpairs.pipelines.select import components, duplicates, select_balance, select_files
from webpairs.pipelines.index_eval.eval_embed_index import load_embedding_index
from webpairs.pipelines.index_eval.eval_index import load_eval_index
from webpairs.pipelines.select.score_cut import ScoreCut
from webpairs.pipelines.select.select_plan import SelectPlan, make_plan

log = logging.getLogger(__name__)

# Hash batches of one (band, partition) group: the automatic partition count aims at
# this many annotation bytes per partition. A group is what a worker holds at once (and,
# on the local runner, the driver reads back from its spill files and sends): 32 MB makes
# a window band's group about 1M entries (94 partitions at 1e7 rows). Smaller partitions
# make more, smaller hash batches (files x bands x partitions of them).
BYTES_PER_PARTITION = 32 << 20
MAX_PARTITIONS = 1024


def _quota_plan(counts: dict[str, int], quota: quotas_lib.QuotaConfig | None) -> quotas_lib.QuotaPlan:
  return quotas_lib.plan_quotas(counts, quota) if quota else quotas_lib.identity_plan(counts)


def _add(into: dict, other: Mapping) -> dict:
  for k, v in other.items():
    if isinstance(v, Mapping):
      _add(into.setdefault(k, {}), v)
    else:
      into[k] = into.get(k, 0) + v
  return into


class _MergeCounts(beam.CombineFn):
  """Adds nested {name: count} dicts."""

  def create_accumulator(self) -> dict:
    return {}

  def add_input(self, acc: dict, counts: Mapping) -> dict:
    return _add(acc, counts)

  def merge_accumulators(self, accs: Iterable[dict]) -> dict:
    merged: dict = {}
    for acc in accs:
      _add(merged, acc)
    return merged

  def extract_output(self, acc: dict) -> dict:
    return acc


class FitBalance(beam.PTransform):
  """Resolved files -> the M4 fit and bias reports (a singleton dict, `select_balance.fit_balance`).

  Cell statistics per file, summed by a CombineFn, one exact solve: the pool is never
  gathered in one place.
  """

  def __init__(self, plan: SelectPlan, output_dir: str, quota):
    super().__init__()
    self._plan = plan
    self._output_dir = output_dir
    self._quota = quota

  def expand(self, resolved):
    balance = self._plan.balance
    cells = resolved | "PoolCells" >> beam.ParDo(select_files.PoolCells(self._plan),
                                                 beam.pvalue.AsSingleton(self._quota)).with_outputs(
                                                     select_balance.INPUT, main=select_balance.POOL)
    inputs = cells[select_balance.INPUT] | "SumInput" >> beam.CombineGlobally(select_balance.SumCells(balance))
    return (cells[select_balance.POOL] | "SumPool" >> beam.CombineGlobally(select_balance.SumCells(balance))
            | "Fit" >> beam.Map(select_balance.fit_balance, beam.pvalue.AsSingleton(inputs), balance,
                                self._output_dir))


class SelectAnnotations(beam.PTransform):
  """PCollection of (file index, annotation path) -> per-file summary counts.

  Writes SEL/selection-<suffix>.parquet per annotation file (atomically). The other
  outputs are singletons: the quota plan and, with balancing, the M4 fit and the kept
  rows' cell statistics (None without). `rounds`: the duplicate clusters' round budget.
  """

  def __init__(self, plan: SelectPlan, output_dir: str, rounds: int):
    super().__init__()
    self._plan = plan
    self._output_dir = output_dir
    self._rounds = rounds

  def expand(self, files_pc):
    plan = self._plan
    side = []
    if plan.score_column:
      side = [beam.pvalue.AsSingleton(files_pc | "ScoreCut" >> ScoreCut(plan.score_column, plan.score_percentile))]
    scan = files_pc | "Scan" >> beam.ParDo(select_files.ScanFile(plan), *side).with_outputs(
        select_files.SHA, select_files.BAND, select_files.CAPTION, main="state")
    clusters, caption_dups, stats = ({"state": scan["state"], "sha": scan[select_files.SHA],
                                      "band": scan[select_files.BAND], "caption": scan[select_files.CAPTION]}
                                     | "Duplicates" >> duplicates.Duplicates(plan.dedup, plan.rules, plan.partitions,
                                                                                 self._rounds))
    resolved = ({"state": scan["state"], "clusters": clusters, "caption": caption_dups}
                | "JoinFile" >> shuffle.CoGroupByKey()
                | "Resolve" >> beam.ParDo(select_files.ResolveFile(plan)).with_outputs(select_files.COUNTS,
                                                                                      main="files"))
    quota = (resolved[select_files.COUNTS] | "PoolCounts" >> beam.CombineGlobally(_MergeCounts())
             | "PlanQuotas" >> beam.Map(_quota_plan, plan.quota))
    side = [beam.pvalue.AsSingleton(quota)]
    balance = kept = None
    if plan.balance:
      balance = resolved["files"] | "Balance" >> FitBalance(plan, self._output_dir, quota)
      side.append(beam.pvalue.AsSingleton(balance))
    written = resolved["files"] | "Write" >> beam.ParDo(select_files.WriteSelection(plan, self._output_dir),
                                                        *side).with_outputs(select_balance.KEPT, main="counts")
    if plan.balance:
      kept = written[select_balance.KEPT] | "SumKept" >> beam.CombineGlobally(select_balance.SumCells(plan.balance))
    counts = ((written["counts"], stats) | "AllCounts" >> beam.Flatten()
              | "MergeCounts" >> beam.CombineGlobally(_MergeCounts()))
    return counts, quota, balance, kept


def _summary(counts: dict, quota: quotas_lib.QuotaPlan, balance: dict | None = None, kept=None, *,
             annotations: str, plan: SelectPlan, indexes: list[dict]) -> dict:
  d = plan.dedup
  near = dict(counts.get("near_dup", {}), **counts.get("components", {}))
  near.update(threshold=d["threshold"], enabled=bool(d["near"]), band_bits=d["band_bits"],
              bucket_window=d["bucket_window"], max_rounds=d["max_rounds"], rule="phash and dhash within threshold",
              windows=bool(d["windows"]), window_threshold=d["window_threshold"],
              window_band_stride=d["window_band_stride"], corners=bool(d["windows"] and d["corners"]),
              corner_rule=("a corner window (format 7) within window_threshold of the same corner of the other, "
                           f"content dHashes within {dedup.CORNER_CONTENT_THRESHOLD} bits, content aspects within "
                           f"{2 ** (dedup.CORNER_ASPECT_MAX_STEPS / dedup.ASPECT_STEPS_PER_OCTAVE):.3f}x"),
              window_rule=("content or a window of one and a window of the other within window_threshold, "
                           f"content aspects within {2 ** (dedup.ASPECT_MAX_STEPS / dedup.ASPECT_STEPS_PER_OCTAVE):.2f}x"))
  out = {
      "job": "select",
      "annotations": annotations,
      "config": files.json_safe(plan.config),
      "config_hash": plan.config_hash,
      "files": counts.get("files", 0),
      "input_examples": counts.get("input_examples", 0),
      "kept": counts.get("kept", 0),
      "written": counts.get("written", 0),
      "reason_counts": dict(sorted(counts.get("reason_counts", {}).items())),
      "rule_failure_counts": dict(sorted(counts.get("rule_failure_counts", {}).items())),
      "rules": [n for n in plan.rules.names if n != STATUS],
      "lang_before": dict(sorted(counts.get("lang_before", {}).items())),
      "lang_pool": dict(sorted(counts.get("lang_pool", {}).items())),
      "lang_after": dict(sorted(counts.get("lang_after", {}).items())),
      "near_dup": near,
      "exact_dup": dict(counts.get("exact_dup", {}), enabled=bool(d["exact"])),
      "caption_dup": dict(counts.get("caption_dup", {}), max_images=d["caption_max_images"]),
      "eval_indexes": indexes,
      "quotas": dict(quota.to_dict(), enabled=plan.quota is not None),
      "balance": files.json_safe(select_balance.summary(balance, kept, plan.balance)),
      "selection": f"{selection.SELECTION_PREFIX}*.parquet",
  }
  return out


def _write_summary(counts: dict, quota: quotas_lib.QuotaPlan, balance: dict | None, kept, output_dir: str,
                   **kwargs) -> None:
  files.write_json_atomic(files.join(output_dir, selection.SUMMARY_FILE),
                          _summary(counts, quota, balance, kept, **kwargs))


def annotation_files(annotations_dir: str) -> list[tuple[str, int]]:
  """Sorted (path, size in bytes) of the annotation files in a directory."""
  pattern = annotations_glob(annotations_dir)
  found = sorted((m.path, m.size) for m in files.match(pattern))
  if not found:
    raise FileNotFoundError(f"no files match {pattern!r}")
  return found


def _check_columns(path: str, needed: Iterable[str]) -> None:
  names = set(files.read_parquet_metadata(path).schema.to_arrow_schema().names)
  missing = sorted(set(select_files.stored_columns(needed)) - names)
  if missing:
    raise ValueError(f"{path} lacks columns {missing} that this config needs")


def _prepare_output(output_dir: str, expected: set[str], overwrite: bool) -> None:
  """Removes an earlier run's files, so summary.json exists only once a run has finished.

  Selection files of other annotation files would be read as part of this selection:
  they are an error unless `overwrite`.
  """
  found = [m.path for m in files.match(selection.selection_glob(output_dir))]
  stale = sorted(p for p in found if p not in expected)
  if stale and not overwrite:
    raise FileExistsError(f"{output_dir} holds {len(stale)} selection files of other annotations "
                          f"({stale[0]}, ...); use another output or overwrite=True")
  extra = [files.join(output_dir, name) for name in (selection.SUMMARY_FILE, select_balance.INFEASIBLE_FILE)]
  old = [p for p in extra if files.exists(p)] + found
  if old:
    files.delete(old)


def _raise_infeasible(output_dir: str, error: Exception) -> None:
  """Runners wrap the fit's InfeasibleError (as text, across processes): raise it as itself.

  The fit step records it in SEL/balance_infeasible.json before failing, on any filesystem.
  """
  path = files.join(output_dir, select_balance.INFEASIBLE_FILE)
  if files.exists(path):
    found = files.read_json(path)
    raise m4.InfeasibleError(f"select: M4 balancing is infeasible: {found['reason']} (pool bias and the "
                             f"largest feasible eta: {path})", eta=found["eta"],
                             max_feasible_eta=found["max_feasible_eta"]) from error


def _absolute(path: str) -> str:
  return path if "://" in path else os.path.abspath(path)


def run_select(annotations_dir: str, config: ml_collections.ConfigDict | str, output_dir: str,
               pipeline_args: list[str] | None = None, *, partitions: int | None = None,
               overwrite: bool = False, show_progress: bool = True) -> dict:
  """Runs the select job and returns the summary it wrote to OUTPUT/summary.json.

  `config` is a ConfigDict or a shipped name / .py path (webpairs/configs/curation/).
  `partitions` (default: from the input size) only changes how work is grouped, never
  the result.
  """
  if isinstance(config, str):
    config = load_curation_config(config)
  found = annotation_files(annotations_dir)
  paths = [p for p, _ in found]
  if partitions is None:
    partitions = int(min(MAX_PARTITIONS, max(1, -(-sum(s for _, s in found) // BYTES_PER_PARTITION))))
  indexes = [load_eval_index(p) for p in config.eval.indexes]
  embedding_indexes = [load_embedding_index(p) for p in config.eval.get("embedding_indexes", ())]
  first = files.read_parquet_metadata(paths[0]).metadata
  plan = make_plan(config, indexes, partitions, select_balance.file_indicators(first), embedding_indexes)
  _check_columns(paths[0], set(select_files.SCAN_COLUMNS) | {"key", "source", "offset"}
                 | set(filters.columns_needed(plan.filters)) | set(plan.balance.columns if plan.balance else ()))
  # Component rounds grow as log2 of the nodes, bounded by the rows (footers only). With
  # the automatic budget a graph that needs more reruns with twice as many, up to `rows`.
  rows = sum(files.read_parquet_metadata(p).num_rows for p in paths)
  rounds = int(config.dedup.max_rounds) or cc.round_budget(rows)
  outputs = [selection.selection_path(output_dir, p) for p in paths]
  _prepare_output(output_dir, set(outputs), overwrite)
  pipeline_args = list(pipeline_args or [])
  log.info("select: %d annotation files, config %s (%s) -> %s", len(paths), config.name, plan.config_hash, output_dir)
  run = job.Job("select", output_dir, pipeline_args, show_progress=show_progress, progress_paths=outputs)

  def build(pipeline: beam.Pipeline) -> None:
    counts, quota, balance, kept = (pipeline | "Files" >> beam.Create(list(enumerate(paths)))
                                    | "Select" >> SelectAnnotations(plan, output_dir, rounds))
    optional = [beam.pvalue.AsSingleton(p) if p is not None else None for p in (balance, kept)]
    _ = counts | "WriteSummary" >> beam.Map(
        _write_summary, beam.pvalue.AsSingleton(quota), *optional, output_dir, annotations=_absolute(annotations_dir),
        plan=plan, indexes=[dict(ix.describe(), path=p) for ix, p in zip(indexes, config.eval.indexes)]
        + [dict(ix.describe(), path=p) for ix, p in zip(embedding_indexes, config.eval.get("embedding_indexes", ()))])

  while True:
    try:
      result = run.run(build)  # reads `rounds` when it builds: a rerun takes the doubled budget
      break
    except Exception as e:
      # Runners pass worker errors on as text.
      if components.NOT_CONVERGED in str(e) and not config.dedup.max_rounds and rounds < rows:
        log.warning("select: duplicate clusters did not converge in %d rounds; rerunning with %d", rounds, 2 * rounds)
        rounds *= 2
        continue
      _raise_infeasible(output_dir, e)
      raise
  summary = run.finish(selection.SUMMARY_FILE)
  # Reported, not written: partitions never change the result.
  summary["partitions"] = partitions
  summary["shuffle"] = shuffle.per_row(shuffle.shuffle_bytes(result), summary["input_examples"])
  return summary
