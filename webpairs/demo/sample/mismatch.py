"""Mismatched pairs: a seeded share of examples carry the caption of another image (the truth for score filters)."""

from __future__ import annotations

import dataclasses

import numpy as np

from webpairs.demo.sample import defects
from webpairs.demo.sample import plan as plan_lib

# Only pairs annotate keeps can be mismatched: a rejected example is no test of a score filter.
ELIGIBLE = (defects.NONE, defects.EXACT_DUP, defects.NEAR_DUP)
_SALT = 0x6D69736D  # "mism": its own stream, so the rest of the plan is the seed's default plan
_TRIES = 64  # random donor draws before an exhaustive scan


def _eligible(ex: plan_lib.ExamplePlan) -> bool:
  return ex.defect in ELIGIBLE and ex.caption is not None


def _image_of(ex: plan_lib.ExamplePlan) -> int:
  """Duplicates show their original's image: a caption from the same group is no mismatch."""
  return ex.dup_of if ex.dup_of is not None else ex.index


def plant_mismatches(plan: plan_lib.SamplePlan, rate: float) -> plan_lib.SamplePlan:
  """Gives round(rate x examples) eligible examples the caption (and language) of another image.

  The chosen examples are a seeded random subset of the clean examples and duplicates; each
  gets the original caption of a donor drawn from the same pool whose image differs (not the
  same duplicate group) and whose caption text differs, so every planted pair really is a
  mismatch. Everything else in the plan is left as it was: rate 0 returns `plan` itself.
  """
  if not 0.0 <= rate <= 1.0:
    raise ValueError(f"mismatch rate must be in [0, 1], got {rate}")
  examples = list(plan.examples)
  count = int(round(rate * len(examples)))
  if count == 0:
    return plan
  pool = [ex.index for ex in examples if _eligible(ex)]
  if count > len(pool):
    raise ValueError(f"mismatch rate {rate} needs {count} examples with a valid caption; "
                     f"the sample has {len(pool)} (lower the defect rates or the mismatch rate)")
  rng = np.random.default_rng([plan.seed, _SALT])
  chosen = sorted(pool[int(i)] for i in rng.choice(len(pool), count, replace=False))
  for i in chosen:
    ex = examples[i]
    donor = _draw_donor(rng, plan.examples, pool, ex)
    examples[i] = dataclasses.replace(
        ex, lang=donor.lang, caption=donor.caption, txt=donor.caption.encode("utf-8"),
        json_caption=donor.caption, caption_from=donor.index)
  return dataclasses.replace(plan, examples=tuple(examples))


def _draw_donor(
    rng: np.random.Generator, examples: tuple[plan_lib.ExamplePlan, ...], pool: list[int],
    ex: plan_lib.ExamplePlan,
) -> plan_lib.ExamplePlan:
  def fits(j: int) -> bool:
    other = examples[j]
    return _image_of(other) != _image_of(ex) and other.caption != ex.caption

  for _ in range(_TRIES):
    j = pool[int(rng.integers(len(pool)))]
    if fits(j):
      return examples[j]
  fitting = [j for j in pool if fits(j)]  # a pool of near-identical captions: scan once
  if not fitting:
    raise ValueError(f"no caption of another image differs from {ex.key}'s; cannot mismatch it")
  return examples[fitting[int(rng.integers(len(fitting)))]]
