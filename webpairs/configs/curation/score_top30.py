"""DataComp "CLIP score top 30%"-style pool: raw's dedup, then the 30% of ok rows with the highest model score.

Needs annotations made with `--scores` (the `curate score` job's output), which puts each
row's pair logit t*cos+b in extra.model_score; rows without a score are not cut by it.
"""

from webpairs.configs.curation import raw


def get_config():
  c = raw.get_config()
  c.name = "score_top30"
  c.filters.score_column = "extra.model_score"  # score_files.EXTRA_FIELD
  c.filters.min_score_percentile = 70.0  # drop the 70% lowest-scoring ok rows: keep the top 30%
  return c
