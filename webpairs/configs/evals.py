"""Built-in eval configs by name, and suites (named lists of them), for `webpairs eval --evals` and trainer configs.

data_dir is relative to the data root: <root>/dollarstreet, <root>/geode, <root>/gldv2,
<root>/xm3600, <root>/marvl, <root>/synthetic (the set `webpairs eval --write-synthetic` makes).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from webpairs.eval import synthetic

_GEO = dict(type="fewshot", targets=["country", "region"], shots=[5, 10, 25], seeds=3)

EVALS: dict[str, dict[str, Any]] = {
    # Cultural diversity (SigLIP 2 / WebLI-100B): zero-shot with disparity over income and region.
    "dollarstreet": dict(type="zero_shot", dataset="dollarstreet", groups=["income", "region"]),
    "geode": dict(type="zero_shot", dataset="geode", groups=["region"]),
    "gldv2": dict(type="zero_shot", dataset="gldv2", templates=["a photo of {}."]),
    # Geo-localization: 10-shot ridge probes on frozen image embeddings.
    "dollarstreet_geo": dict(_GEO, dataset="dollarstreet"),
    "geode_geo": dict(_GEO, dataset="geode"),
    # Multilingual.
    "xm3600": dict(type="retrieval", dataset="xm3600"),
    "marvl": dict(type="zero_shot", dataset="marvl", templates=["{}"], groups=["language"]),
    # The synthetic set: every kind of eval, on data a model trained on `webpairs sample` can learn.
    "synthetic_zeroshot": dict(type="zero_shot", dataset="dollarstreet", data_dir="synthetic",
                               templates=list(synthetic.TEMPLATES), aliases=synthetic.class_aliases(),
                               groups=["income", "region", "country"]),
    "synthetic_retrieval": dict(type="retrieval", dataset="xm3600", data_dir="synthetic"),
    "synthetic_geo": dict(type="fewshot", dataset="dollarstreet", data_dir="synthetic", targets=["country", "region"],
                          shots=[5, 10], seeds=3),
    # Captioners (CapPa, LocCa) on the synthetic set: class prompts scored by log-likelihood, caption perplexity.
    "synthetic_caption_zeroshot": dict(type="caption_zero_shot", dataset="dollarstreet", data_dir="synthetic",
                                       templates=list(synthetic.TEMPLATES), aliases=synthetic.class_aliases(),
                                       groups=["income", "region", "country"]),
    "synthetic_perplexity": dict(type="caption_perplexity", dataset="xm3600", data_dir="synthetic"),
}

SUITES: dict[str, tuple[str, ...]] = {
    "cultural": ("dollarstreet", "geode", "gldv2", "dollarstreet_geo", "geode_geo"),
    "multilingual": ("xm3600", "marvl"),
    "synthetic": ("synthetic_zeroshot", "synthetic_retrieval", "synthetic_geo"),
    "synthetic_captioner": ("synthetic_caption_zeroshot", "synthetic_perplexity"),
}


def resolve(names: Sequence[str], extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
  """{name: config} for eval names and suite names; `extra` (a run's own config.evals) wins over built-ins."""
  table = {**copy.deepcopy(EVALS), **{k: dict(v) for k, v in (extra or {}).items()}}
  out: dict[str, dict[str, Any]] = {}
  for name in names:
    members = SUITES.get(name, (name,))
    for member in members:
      if member not in table:
        raise KeyError(f"unknown eval {member!r}; evals: {', '.join(sorted(table))}; "
                       f"suites: {', '.join(sorted(SUITES))}")
      out[member] = table[member]
  return out
