"""Curation configs for `webpairs curate select`: one file per variant, all from `base_config()`.

Every field of the selection is here, so a selection is reproducible from its config
(recorded with its hash in SEL/summary.json).
"""

from __future__ import annotations

from collections.abc import Iterable

import ml_collections

from webpairs.configs import loader

PACKAGE = __name__


def base_config() -> ml_collections.ConfigDict:
  """Every select setting with its neutral value: nothing filtered, no dedup, no quotas."""
  c = ml_collections.ConfigDict()
  c.name = "base"
  c.seed = 0  # of the keep/repeat hash rule (language quotas); M4 has balance.seed
  c.dedup = ml_collections.ConfigDict(dict(
      exact=False,  # same sha256 of the image bytes: one canonical example
      near=False,  # perceptual near-duplicates (phash and dhash both within `threshold`)
      # Max Hamming distance (of 64 bits) of phash *and* of dhash. 10: no false match at
      # any threshold up to 14 on real photos, all re-encodes and resizes found
      # (benchmarks/neardup_quality.py).
      threshold=10,
      band_bits=16,  # LSH band width: 64 / band_bits bands per hash (phash and dhash)
      # Crop-resistant matching (annotation format >= 6; older files are matched without): two images are
      # also near-duplicates when the content or one of the 3x3 windows of 90% of one is within
      # `window_threshold` (phash and dhash) of a window of the other and their content aspect ratios are
      # within 1.24x (dedup.ASPECT_MAX_STEPS; files without content_aspect: unchecked); crops up to 10% and
      # text overlays are found (benchmarks/neardup_quality.py).
      windows=True,
      window_threshold=10,
      # With windows, annotation format 7's corner windows (top-left and bottom-right of 75%) find a badge or
      # logo in a corner: a corner within `window_threshold` of the same corner of another image, content
      # dHashes within 8 bits and content aspects within 1.044x (dedup.corner_pairs); logo overlays 0.917 ->
      # 1.0, no false merge (benchmarks/neardup_quality.py). 2 x 27 more shuffle bytes per row.
      corners=True,
      # Window hashes go into every this-th LSH band only: 4 -> 9 windows x 2 bands x 18 bytes = 324 more
      # shuffle bytes per row, and 20 for aspect codes (int8, 10 entries x 2 bands); 2 doubles that for a
      # little more recall on 10% crops (dedup.WINDOW_BAND_STRIDE).
      window_band_stride=4,
      # Rows of one LSH bucket are compared with at most this many neighbours in hash
      # order, so a huge bucket (blank images, one logo) costs O(n), not O(n^2).
      bucket_window=64,
      # Most large-star/small-star rounds of the duplicate clusters' connected components;
      # 0: 2*log2(rows) + 4. A graph that needs more fails the job (no selection written).
      max_rounds=0,
      caption_max_images=0,  # a caption on more distinct images than this is caption_dup; 0: off
      semantic_dir="",  # output of `curate semdedup` (SemDeDup): its verdicts reject rows as semantic_dup; "": off
  ))
  c.eval = ml_collections.ConfigDict(dict(
      indexes=(),  # eval index files (`webpairs curate index-eval`); matches: eval_overlap:NAME
      threshold=10,  # same rule as near-duplicates: phash and dhash both within this
      # Embedding indexes (`curate index-eval --checkpoint W`): a row whose image embedding (from the
      # `curate score --embeddings` output in scores_dir, same checkpoint) has cosine above
      # embedding_threshold with an indexed image is eval_overlap:NAME.
      embedding_indexes=(),
      embedding_threshold=0.9,
      scores_dir="",
  ))
  c.filters = ml_collections.ConfigDict(dict(
      min_side=0,  # pixels; 0: off
      max_aspect_ratio=0.0,  # long side / short side; 0: off
      min_caption_chars=0,
      max_caption_chars=0,  # 0: off
      min_words=0,
      max_words=0,  # 0: off
      min_letter_ratio=0.0,
      max_digit_ratio=1.0,
      max_symbol_ratio=1.0,
      max_upper_ratio=1.0,
      max_repetition_ratio=1.0,
      reject_urls=False,  # caption contains a URL
      reject_html=False,  # caption contains HTML tags or entities
      langs=(),  # allow-list of `lang` codes; empty: all
      min_lang_score=0.0,
      score_column="",  # an extra annotation column with a model score (e.g. image-text similarity)
      min_score_percentile=0.0,  # drop rows below this percentile of `score_column`; 0: off
      uid_subset="",  # DataComp subset .npy (sorted uint64 pairs of uid halves): keep only its `extra.uid`s
  ))
  c.quotas = ml_collections.ConfigDict(dict(
      enabled=False,
      shares=ml_collections.ConfigDict(),  # {lang: target share}; others split the rest by size
      min_share=0.0,  # raise every language in `raise_langs` to at least this share
      raise_langs=(),
      size="pool",  # output size: "pool" (as many as pass the rules) or "downsample" (no repeats)
      examples=0,  # > 0: this output size instead
      max_repeat=10,  # most copies of one example (up-sampling cap)
  ))
  # M4 moment matching (DESIGN §4, webpairs/balancing/README.md): keep probabilities q that bound
  # the bias of attributes s against concepts y on the kept sample. Runs after the language
  # quotas, on the rows every other rule kept, weighted by their copies.
  c.balance = ml_collections.ConfigDict(dict(
      enabled=False,
      # Indicators: "annotations" = annotate's attr_s / concept_y columns (keyword lexicon);
      # "keywords" = the installed lexicon on caption + lang during select (no new annotate pass).
      source="annotations",
      attributes=(),  # attribute names to balance, e.g. ("female", "male"); empty: all of the source's
      concepts=(),  # concept names (occupations); empty: all of the source's
      pi=(),  # target share per attribute, or one for all; empty: parity (mean attribute share of the pool)
      eps_rep=0.01,  # |E_q[s - pi]| <= eps_rep
      eps_assoc=0.005,  # |E_q[(s - pi) y]| <= eps_assoc (small: it scales with P(y))
      eta=0.9,  # keep rate E[q] of the pool (the paper's 90%)
      # Dual cap: inf = hard constraints (an infeasible eta fails the job, saying the largest
      # feasible one); finite = soft, violations cost V each and summary.json flags infeasibility.
      V=float("inf"),
      gamma=1.0,  # q = clip((u - v.a - mu) / gamma, 0, 1)
      utility="",  # annotation column with utilities u (nulls count as 0); empty: u = 1
      u_step=0.01,  # utility bucket of the cell statistics: q is exact to u_step / gamma
      seed=1,  # of the keep hash; differs from `seed` so that quotas and M4 drop independently
  ))
  return c


def load_curation_config(name_or_path: str, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
  """A shipped config ('raw', 'quality', 'lang_rebalanced', 'en90', 'm4_balanced') or a .py file, locked.

  `overrides` are `key=value` strings (e.g. "filters.min_side=64", "quotas.shares={'en': 0.9}");
  an unknown key is a loader.UnknownKeyError (a KeyError).
  """
  config = loader.load_config(PACKAGE, name_or_path, overrides, lock=True)
  _check_keys(config, base_config(), "")
  return config


# Fields whose keys are data (language codes), not settings.
_FREE_MAPPINGS = ("quotas.shares",)


def _check_keys(config: ml_collections.ConfigDict, base: ml_collections.ConfigDict, where: str) -> None:
  """A config file that adds a key base_config() lacks (a typo, mostly) is an error."""
  for key in config.keys():
    path = f"{where}{key}"
    if key not in base:
      raise loader.UnknownKeyError(loader.unknown_message(f"curation config key {path!r}", key, base.keys()))
    if isinstance(base[key], ml_collections.ConfigDict) and path not in _FREE_MAPPINGS:
      _check_keys(config[key], base[key], path + ".")


def shipped_configs() -> list[str]:
  return loader.shipped_names(PACKAGE)
