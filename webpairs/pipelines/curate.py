"""`curate run`: annotate, select and materialize in one command, then the curation report.

OUTPUT/annotations, OUTPUT/selection and OUTPUT/shards hold each job's output; every stage
resumes. Annotate and materialize skip finished shards themselves; select is skipped when
its last run used the same config on the same annotations (OUTPUT/run.json records that).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from webpairs.curation.resize import DEFAULT_QUALITY
from webpairs.formats import annotation_files, curated, files
from webpairs.pipelines.annotate import annotate
from webpairs.pipelines.materialize import materialize
from webpairs.pipelines.select import selection_io
from webpairs.report import html as report

log = logging.getLogger(__name__)

ANNOTATIONS_DIR = "annotations"
SELECTION_DIR = "selection"
SHARDS_DIR = "shards"
RUN_FILE = "run.json"


def _digest(path: str) -> str | None:
  if not files.exists(path):
    return None
  with files.open(path) as f:
    return hashlib.sha256(f.read()).hexdigest()


def _load_config(config: Any, overrides: list[str]):
  """A ConfigDict as given, or a shipped name / .py path loaded with `overrides`."""
  if isinstance(config, str):
    from webpairs.configs.curation import load_curation_config  # pylint: disable=import-outside-toplevel
    return load_curation_config(config, overrides)
  if overrides:
    from webpairs.configs.loader import apply_overrides  # pylint: disable=import-outside-toplevel
    config = apply_overrides(config.copy_and_resolve_references(), overrides)
  return config


def _select_stage(annotations_dir: str, selection_dir: str, config, pipeline_args: list[str], ledger: dict,
                  show_progress: bool) -> tuple[dict, bool]:
  """(selection summary, whether select ran): skipped when nothing it depends on changed."""
  # Imported here: `select` is its own job and module; annotate and materialize run without it.
  from webpairs.pipelines.select.select import run_select  # pylint: disable=import-outside-toplevel

  # Through JSON, as the ledger stores it: tuples become lists on both sides, inf a string.
  wanted = {"config": json.loads(json.dumps(files.json_safe(config.to_dict()), sort_keys=True)),
            "annotations_summary": _digest(files.join(annotations_dir, annotation_files.SUMMARY_FILE))}
  done = ledger.get("select") or {}
  summary_path = files.join(selection_dir, "summary.json")
  if ({k: done.get(k) for k in wanted} == wanted and done.get("selection_summary") is not None
      and done.get("selection_summary") == _digest(summary_path)):
    log.info("select: same config and annotations as the last run; reusing %s", selection_dir)
    return selection_io.read_summary(selection_dir), False
  summary = run_select(annotations_dir, config, selection_dir, pipeline_args, overwrite=True,
                       show_progress=show_progress)
  ledger["select"] = dict(wanted, selection_summary=_digest(summary_path))
  return summary, True


def run_curation(inputs: str | list[str], config: Any, output_dir: str, pipeline_args: list[str] | None = None, *,
                 overrides: list[str] | tuple[str, ...] = (), shard_size: int = materialize.DEFAULT_SHARD_SIZE,
                 resize: int | None = None, fmt: str = curated.WEBDATASET, quality: int = DEFAULT_QUALITY,
                 show_progress: bool = True, regions_dir: str | None = None, scores_dir: str | None = None) -> dict:
  """Runs annotate -> select -> materialize into OUTPUT and writes OUTPUT/report.html.

  `config`: a curation ConfigDict, or a shipped config name / .py path
  (webpairs/configs/curation/) with `overrides` ("filters.min_side=64", ...).
  `regions_dir`: the detect job's output, passed to annotate (its regions replace the raw ones).
  `scores_dir`: the score job's output, passed to annotate (extra.model_score).
  Returns {"annotate", "select", "manifest", "report", "outputs", "select_ran", "seconds"}.
  """
  start = time.time()
  pipeline_args = list(pipeline_args or [])
  config = _load_config(config, list(overrides))
  outputs = {name: files.join(output_dir, name) for name in (ANNOTATIONS_DIR, SELECTION_DIR, SHARDS_DIR)}
  run_path = files.join(output_dir, RUN_FILE)
  ledger = files.read_json(run_path) if files.exists(run_path) else {}

  annotated = annotate.run_annotate(inputs, outputs[ANNOTATIONS_DIR], pipeline_args, show_progress=show_progress,
                                    regions_dir=regions_dir, scores_dir=scores_dir)
  selected, select_ran = _select_stage(outputs[ANNOTATIONS_DIR], outputs[SELECTION_DIR], config, pipeline_args,
                                       ledger, show_progress)
  files.write_json_atomic(run_path, ledger)
  manifest = materialize.run_materialize(
      outputs[SELECTION_DIR], outputs[SHARDS_DIR], inputs, pipeline_args, shard_size=shard_size, resize=resize,
      fmt=fmt, quality=quality, annotations_dir=outputs[ANNOTATIONS_DIR], show_progress=show_progress)
  report_path = report.write_report(output_dir, outputs[SELECTION_DIR], manifest,
                                    annotations_dir=outputs[ANNOTATIONS_DIR])
  return {
      "annotate": annotated,
      "select": selected,
      "manifest": manifest,
      "report": report_path,
      "outputs": outputs,
      "select_ran": select_ran,
      "seconds": round(time.time() - start, 2),
  }
