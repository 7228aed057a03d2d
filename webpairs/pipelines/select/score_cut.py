"""The exact model-score percentile of `select` in Beam: two mergeable histogram passes.

The cut is the score of the row at the percentile rank among rows with status ok, as
exact and deterministic as a sort, without gathering the scores anywhere.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from webpairs.curation import filters, reasons
from webpairs.pipelines.select.select_files import numeric_column, read_columns


def _score_keys(path: str, column: str) -> np.ndarray:
  table = read_columns(path, ["status", column])
  ok = np.array([s == reasons.OK for s in table.column("status").to_pylist()], dtype=bool)
  scores = numeric_column(table, column)
  return filters.score_keys(scores[ok & ~np.isnan(scores)])


class _SumArrays(beam.CombineFn):
  def create_accumulator(self):
    return None

  def add_input(self, acc, arr):
    return arr.copy() if acc is None else acc + arr

  def merge_accumulators(self, accs):
    out = None
    for a in accs:
      if a is not None:
        out = a.copy() if out is None else out + a
    return out

  def extract_output(self, acc):
    return acc


class ScoreCut(beam.PTransform):
  """Annotation files -> the exact score below which `percentile`% of ok rows lie (two histogram passes)."""

  def __init__(self, column: str, percentile: float):
    super().__init__()
    self._column = column
    self._percentile = percentile

  def expand(self, files_pc):
    column, pct = self._column, self._percentile
    coarse = (files_pc
              | "CoarseHist" >> beam.Map(lambda f: filters.key_histogram(_score_keys(f[1], column)))
              | "SumCoarse" >> beam.CombineGlobally(_SumArrays())
              | "CoarseBin" >> beam.Map(lambda h: filters.locate(h, filters.drop_rank(h, pct))))
    fine = (files_pc
            | "FineHist" >> beam.Map(lambda f, c: filters.key_histogram(_score_keys(f[1], column), c[0]),
                                     beam.pvalue.AsSingleton(coarse))
            | "SumFine" >> beam.CombineGlobally(_SumArrays())
            | "Cut" >> beam.Map(lambda h, c: filters.cut_value(c, h), beam.pvalue.AsSingleton(coarse)))
    return fine
