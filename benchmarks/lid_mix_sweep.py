"""Sweep of lid.176 + supplement mixing rules on the TUNE halves of the registry and UDHR sets, real
captions and the web alt-text proxy (agreement with heliport, rare-language labels). Never reads
the test halves.

Each text's lid.176 top 5, supplement top 5 and CLD3 answer are computed once; the rules are then
replayed in Python (the 'shipped' row is checked against LanguageIdentifier itself).

  PYTHONPATH=. .venv/bin/python benchmarks/lid_mix_sweep.py --cache /tmp/lid_wheels \
      --heliport-python /tmp/hvenv/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lid_eval_set  # noqa: E402
import lid_quality  # noqa: E402

from webpairs.curation import english_words, lid, scripts  # noqa: E402


def features(texts: list[str]) -> list[tuple]:
  """Per text: (script or None, sole language or None, lid.176 top 5, supplement top 5, CLD3,
  (words, letters) of the cleaned line, english_words.english_share of it)."""
  ident = lid.LanguageIdentifier()
  out = []
  for t in texts:
    line = ident._clean(t)
    if line == "\n":
      out.append((None, None, [], [], None, (0, 0), (0.0, 0)))
      continue
    script, _ = scripts.dominant(line)
    sole = scripts.SOLE_LANGUAGE.get(script) if script else None
    if script is None or sole is not None:
      out.append((script, sole, [], [], None, (0, 0), (0.0, 0)))
      continue
    ours = [(min(float(p), 1.0), lid._fine(lab)) for p, lab in ident._fasttext(line, 5)]
    sup = ident.supplement_predict(line, 5)
    r = ident.cld3.FindLanguage(text=line[:-1])
    code = r.language.split("-")[0]
    size = (len(line.split()), sum(map(str.isalpha, line)))
    out.append((script, sole, ours, sup, (lid._LEGACY_CODES.get(code, code), float(r.probability)), size,
                english_words.english_share(line)))
  return out


def old_rule(script, ours, cld3) -> tuple[str | None, float]:
  """main's default: first lid.176 label of the top 5 that writes the script; CLD3 below 0.7."""
  best = next(((c, p) for p, c in ours if scripts.writes(c, script)), None)
  if best is None:
    best = lid._script_default(script)
  if best[1] < lid.DEFAULT_ASK_CLD3_BELOW and cld3 is not None:
    code, prob = cld3
    if code != lid.UND and prob >= lid.CLD3_MIN_PROB and scripts.writes(code, script):
      if not (code in lid._FASTTEXT_DECIDES and best[0] in lid._FASTTEXT_DECIDES):
        return code, prob
  return best


def mix_rule(feat, v: dict, known: set[str]) -> tuple[str | None, float]:
  script, sole, ours, sup, cld3, (words, letters), (english_share, counted) = feat
  if v.get("not_english") and counted >= v.get("ne_words", english_words.MIN_WORDS) and (
      english_share < v.get("ne_share", english_words.ENGLISH_SHARE)):
    v = {**v, **v["not_english"]}  # a line not in English words: lid.176's English guards nothing
  if script is None:
    return None, 0.0
  if sole is not None:
    return sole, 1.0
  top_p, top_c = ours[0] if ours else (0.0, None)
  # The supplement's top label that writes the script, as (probability, code).
  first = next(((p, c) for p, c in sup if scripts.writes(c, script)), (0.0, None))
  if v.get("unknown_over") and sup and top_p >= lid.SUPPLEMENT_FROM:
    # The supplement sure of a language lid.176 has no label for overrides even a sure lid.176
    # (Kabyle, Xhosa, Sardinian written in a language lid.176 does know), English aside.
    p, c = first
    en_guard = v.get("unknown_en", 1.1)
    if c is not None and p >= v["unknown_over"] and not fold_known(c, known) and not (
        top_c == "en" and top_p >= en_guard):
      return c, p
  if v.get("certain") and sup and lid.SUPPLEMENT_FROM <= top_p < v["certain"]:
    # Either model near-certain decides, lid.176 first (a language lid.176 knows too).
    p, c = first
    if c is not None and p >= v["certain"] and not (top_c == "en" and top_p >= v.get("unknown_en", 1.1)):
      return c, p
  skip = v.get("skip", {None: 0.9, "en": 0.5})  # the branch's first rule unless given
  if ours and top_p >= skip.get(top_c, skip[None]) and scripts.writes(top_c, script) and (
      script not in v.get("always_ask", ())):
    return top_c, top_p
  if not ours or top_p < lid.SUPPLEMENT_FROM:
    saw_nothing = bool(ours) and top_c == PRIOR[1] and abs(top_p - PRIOR[0]) < 1e-6
    needs = v.get("low_sup_min")
    if saw_nothing and v.get("low_not_prior"):
      # lid.176 saw no n-gram: None keeps its prior (so `und`), as does a short line.
      long_enough = words >= v.get("unseen_words", 0) and letters >= v.get("unseen_letters", 0)
      needs = v.get("unseen_min") if long_enough else None
    if needs and sup:
      # lid.176 sees no language it knows: the supplement's label stands where it is sure of it.
      p, c = first
      if c is not None and p >= needs:
        return c, p
    return (top_c, top_p) if ours else (None, 0.0)
  sup_ok = [(p, c) for p, c in sup if scripts.writes(c, script)]
  use = True
  if not sup_ok or sup_ok[0][0] < v.get("sup_min", 0.0):
    use = False  # the supplement is not sure itself
  if use and v.get("unknown_only") and fold_known(sup_ok[0][1], known):
    use = False  # the supplement decides only for languages lid.176 has no label for
  if use and v.get("en_guard") and top_c == "en" and top_p >= v["en_guard"]:
    use = False
  if use and v.get("lid_below") is not None and top_p >= v["lid_below"]:
    use = False
  if not use:
    return old_rule(script, ours, cld3) if v.get("cld3_else") else next(
        ((c, p) for p, c in ours if scripts.writes(c, script)), lid._script_default(script))
  if v.get("unknown_wins") and not fold_known(sup_ok[0][1], known) and sup_ok[0][0] >= v["unknown_wins"]:
    return sup_ok[0][1], sup_ok[0][0]  # asked anyway: a sure label lid.176 cannot give wins outright
  w = v.get("w", 1.5)
  votes = [(p, c, 0) for p, c in ours]
  votes += [(p, c, 1) for p, c in sup if not v.get("sup_unknown_votes") or not fold_known(c, known)]
  scores, probs, fine = {}, {}, {}
  w_unknown = v.get("unknown_w", w)  # lid.176 gives no vote to a language it lacks
  for p, c, m in votes:
    if scripts.writes(c, script):
      k = lid.fold(c)
      scores[k] = scores.get(k, 0.0) + ((w if k in known else w_unknown) if m else 1.0) * p
      probs.setdefault(k, [0.0, 0.0])[m] += p
      fine.setdefault(k, c)
  if not scores:
    return lid._script_default(script)
  best = max(scores, key=scores.__getitem__)
  return fine[best], min(max(probs[best]), 1.0)


# lid.176's answer for a line of no n-gram it kept ('lol', '😀'): its prior, (0.1245, 'en').
PRIOR = lid.LanguageIdentifier().lid176_prior


def fold_known(code: str, known: set[str]) -> bool:
  return lid.fold(code) in known


def coarse(pred: tuple[str | None, float]) -> str:
  code, score = pred
  return lid.UND if code is None or score < lid.DEFAULT_UND_BELOW else lid.fold(code)


def predict(feats: list[tuple], v: dict | None, known: set[str]) -> list[str]:
  """Coarse codes of one variant (None: the previous default, lid.176 + CLD3) for precomputed features."""
  if v is None:
    return [coarse(old_rule(f[0], f[2], f[4]) if f[0] and not f[1] else mix_rule(f, {}, known)) for f in feats]
  return [coarse(mix_rule(f, v, known)) for f in feats]


# lid.VERSION 5's rule: lid.176 sure from 0.9 (English 0.4) decides; the supplement votes from 0.4.
V5 = {"sup_min": 0.4, "skip": {None: 0.9, "en": 0.4}, "always_ask": frozenset({"Ethi", "Tibt"})}
# lid.VERSION 6: from 0.99 (English 0.4); a sure supplement label lid.176 lacks, or where
# lid.176 sees no language, stands alone; always asked in the scripts lid.176 knows one language of.
V6 = {
    "sup_min": 0.4, "skip": {None: 0.99, "en": 0.4}, "always_ask": lid.ALWAYS_ASK_SCRIPTS,
    "low_sup_min": 0.8, "low_not_prior": True, "unknown_over": 0.8, "unknown_en": 0.8,
}
# lid.VERSION 7: version 6, and where lid.176 answers its prior the supplement stands from
# 0.95 on lines of 2 words and 10 letters; a language lid.176 knows stands from 0.99 where lid.176
# is below that.
V7 = {
    "sup_min": lid.SUPPLEMENT_MIN_PROB, "skip": lid.SKIP_SUPPLEMENT_ABOVE, "always_ask": lid.ALWAYS_ASK_SCRIPTS,
    "low_sup_min": lid.SUPPLEMENT_SURE, "low_not_prior": True, "unseen_min": lid.SUPPLEMENT_SURE_OF_UNSEEN,
    "unseen_words": lid.UNSEEN_MIN_WORDS, "unseen_letters": lid.UNSEEN_MIN_LETTERS,
    "unknown_over": lid.SUPPLEMENT_SURE, "unknown_en": lid.ENGLISH_SURE, "certain": lid.SUPPLEMENT_CERTAIN,
}
# lid.VERSION 8 (shipped): version 7, but on a line of 2 counted words under 40% English
# (english_words.rules_out_english) lid.176's English is one label like the others and, where lid.176
# is unsure of every language, the supplement stands from 0.5.
NOT_ENGLISH = {
    "skip": {**lid.SKIP_SUPPLEMENT_ABOVE, "en": lid.SKIP_SUPPLEMENT_ABOVE[None]}, "unknown_en": math.inf,
    "low_sup_min": lid.SUPPLEMENT_SURE_NOT_ENGLISH,
}
SHIPPED = {**V7, "not_english": NOT_ENGLISH}
VARIANTS = {
    "old default (main)": None,
    "first mix (0.9/en 0.5)": {},
    "shipped": SHIPPED,
    "lid.VERSION 7": V7,
    "shipped, English ruled out from 1 counted word": {**SHIPPED, "ne_words": 1},
    "shipped, English ruled out from 3 counted words": {**SHIPPED, "ne_words": 3},
    "shipped, English ruled out under 30%": {**SHIPPED, "ne_share": 0.3},
    "shipped, English ruled out under 50%": {**SHIPPED, "ne_share": 0.5},
    "shipped, not English: English guards only": {**SHIPPED, "not_english": {**NOT_ENGLISH, "low_sup_min": lid.SUPPLEMENT_SURE}},
    "shipped, not English: supplement from 0.4 where lid.176 is unsure": {**SHIPPED, "not_english": {**NOT_ENGLISH, "low_sup_min": 0.4}},
    "shipped, not English: lid.176 lacks from 0.6": {**SHIPPED, "not_english": {**NOT_ENGLISH, "unknown_over": 0.6}},
    "shipped, not English: supplement votes x2": {**SHIPPED, "not_english": {**NOT_ENGLISH, "w": 2.0}},
    "lid.VERSION 6": V6,
    "shipped, supplement never over lid.176's prior": {**SHIPPED, "unseen_min": None},
    "shipped, over lid.176's prior on any line": {**SHIPPED, "unseen_words": 0, "unseen_letters": 0},
    "shipped, over lid.176's prior from 12 letters": {**SHIPPED, "unseen_words": 0, "unseen_letters": 12},
    "shipped, over lid.176's prior from 3 words": {**SHIPPED, "unseen_words": 3, "unseen_letters": 0},
    "shipped, over lid.176's prior from 0.9": {**SHIPPED, "unseen_min": 0.9},
    "shipped, over lid.176's prior from 0.99": {**SHIPPED, "unseen_min": 0.99},
    "shipped, known languages from 0.95": {**SHIPPED, "certain": 0.95},
    "shipped, known languages from 0.98": {**SHIPPED, "certain": 0.98},
    "shipped, lid.176 unsure: supplement from 0.5": {**SHIPPED, "low_sup_min": 0.5},
    "lid.VERSION 5 (0.9, en 0.4; Ethiopic, Tibetan asked)": V5,
    "lid.VERSION 5, asked in all six scripts": {**V5, "always_ask": lid.ALWAYS_ASK_SCRIPTS},
    "shipped, also where lid.176 answers its prior": {**SHIPPED, "low_not_prior": False},
    "shipped, labels lid.176 lacks vote x2": {**SHIPPED, "unknown_w": 2.0},
    "shipped, labels lid.176 lacks vote x2.5": {**SHIPPED, "unknown_w": 2.5},
    "shipped, labels lid.176 lacks vote x3": {**SHIPPED, "unknown_w": 3.0},
    "shipped, supplement sure from 0.7": {**SHIPPED, "low_sup_min": 0.7, "unknown_over": 0.7},
    "shipped, English sure from 0.9": {**SHIPPED, "unknown_en": 0.9},
    "lid.VERSION 5, lid.176 sure in Ethiopic and Tibetan too": {**V5, "always_ask": ()},
    "sup>=0.7": {"sup_min": 0.7},
    "sup>=0.8": {"sup_min": 0.8},
    "sup>=0.9": {"sup_min": 0.9},
    "sup>=0.9 +cld3": {"sup_min": 0.9, "cld3_else": True},
    "unknown-only": {"unknown_only": True},
    "unknown-only +cld3": {"unknown_only": True, "cld3_else": True},
    "unknown-only sup>=0.5 +cld3": {"unknown_only": True, "sup_min": 0.5, "cld3_else": True},
    "unknown-only sup>=0.7 +cld3": {"unknown_only": True, "sup_min": 0.7, "cld3_else": True},
    "unknown votes +cld3": {"sup_unknown_votes": True, "cld3_else": True},
    "en skip 0.2 sup>=0.8 +cld3": {"skip": {None: 0.9, "en": 0.2}, "sup_min": 0.8, "cld3_else": True},
    "lid<0.5 sup>=0.8 +cld3": {"lid_below": 0.5, "sup_min": 0.8, "cld3_else": True},
    "lid<0.3 sup>=0.8 +cld3": {"lid_below": 0.3, "sup_min": 0.8, "cld3_else": True},
    "en skip 0.2 unk-only +cld3": {"skip": {None: 0.9, "en": 0.2}, "unknown_only": True, "cld3_else": True},
    "sup>=0.5": {"sup_min": 0.5},
    "sup>=0.6": {"sup_min": 0.6},
    "sup>=0.6 en skip 0.3": {"sup_min": 0.6, "skip": {None: 0.9, "en": 0.3}},
    "sup>=0.5 en skip 0.3": {"sup_min": 0.5, "skip": {None: 0.9, "en": 0.3}},
    "sup>=0.7 en skip 0.3": {"sup_min": 0.7, "skip": {None: 0.9, "en": 0.3}},
    "sup>=0.6 w2": {"sup_min": 0.6, "w": 2.0},
    "sup>=0.7 w2": {"sup_min": 0.7, "w": 2.0},
    "sup>=0.6 skip 0.95": {"sup_min": 0.6, "skip": {None: 0.95, "en": 0.5}},
    "sup>=0.4 en skip 0.3": {"sup_min": 0.4, "skip": {None: 0.9, "en": 0.3}},
    "sup>=0.5 en skip 0.4": {"sup_min": 0.5, "skip": {None: 0.9, "en": 0.4}},
    "sup>=0.5 en skip 0.2": {"sup_min": 0.5, "skip": {None: 0.9, "en": 0.2}},
    "sup>=0.5 en skip 0.5": {"sup_min": 0.5, "skip": {None: 0.9, "en": 0.5}},
    "sup>=0.5 skip 0.95 en 0.3": {"sup_min": 0.5, "skip": {None: 0.95, "en": 0.3}},
    "sup>=0.5 skip 0.95 en 0.4": {"sup_min": 0.5, "skip": {None: 0.95, "en": 0.4}},
    "sup>=0.5 skip 0.95 en 0.5": {"sup_min": 0.5, "skip": {None: 0.95, "en": 0.5}},
    "sup>=0.4 skip 0.95 en 0.4": {"sup_min": 0.4, "skip": {None: 0.95, "en": 0.4}},
    "sup>=0.5 en skip 0.4 w2": {"sup_min": 0.5, "skip": {None: 0.9, "en": 0.4}, "w": 2.0},
    "sup>=0.5 skip 0.95 en 0.4 w2": {"sup_min": 0.5, "skip": {None: 0.95, "en": 0.4}, "w": 2.0},
    "sup>=0.5 skip 0.98 en 0.4": {"sup_min": 0.5, "skip": {None: 0.98, "en": 0.4}},
    "sup>=0.6 skip 0.95 en 0.5": {"sup_min": 0.6, "skip": {None: 0.95, "en": 0.5}},
    "sup>=0.4 skip 0.95 en 0.3": {"sup_min": 0.4, "skip": {None: 0.95, "en": 0.3}},
    "sup>=0.4 skip 0.95 en 0.5": {"sup_min": 0.4, "skip": {None: 0.95, "en": 0.5}},
    "sup>=0.3 skip 0.95 en 0.4": {"sup_min": 0.3, "skip": {None: 0.95, "en": 0.4}},
    "sup>=0.4 skip 0.9 en 0.4": {"sup_min": 0.4, "skip": {None: 0.9, "en": 0.4}},
    # A label lid.176 has no code for: sure in the supplement, it beats a sure lid.176 (asks the
    # supplement on every caption) or, where the supplement is asked anyway, the vote.
    "v5 + unknown over sure lid176 >= 0.8 (not en >= 0.4)": {
        "sup_min": 0.4, "skip": {None: 0.9, "en": 0.4}, "unknown_over": 0.8, "unknown_en": 0.4},
    "v5 + unknown wins the vote >= 0.7": {"sup_min": 0.4, "skip": {None: 0.9, "en": 0.4}, "unknown_wins": 0.7},
    "v5 + unknown over >= 0.5 (not en >= 0.4)": {
        **V5, "unknown_over": 0.5, "unknown_en": 0.4},
    "v5 + unknown over >= 0.6 (not en >= 0.4)": {
        **V5, "unknown_over": 0.6, "unknown_en": 0.4},
    "v5 + unknown over >= 0.7 (not en >= 0.4)": {
        **V5, "unknown_over": 0.7, "unknown_en": 0.4},
    "v5 + unknown over >= 0.9 (not en >= 0.4)": {
        **V5, "unknown_over": 0.9, "unknown_en": 0.4},
    "v5 + unknown over >= 0.7 (not en >= 0.2)": {
        **V5, "unknown_over": 0.7, "unknown_en": 0.2},
    "v5 + unknown over >= 0.7 + wins >= 0.7": {
        **V5, "unknown_over": 0.7, "unknown_en": 0.4, "unknown_wins": 0.7},
    "v5 + low 0.9": {**V5, "low_sup_min": 0.9},
    "v5 + low 0.7": {**V5, "low_sup_min": 0.7},
    "v5 + low 0.5": {**V5, "low_sup_min": 0.5},
    "v5 + low 0.7 + unknown over 0.7": {**V5, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.4},
    "v5 + low 0.7 + unknown over 0.7 (en 0.6)": {
        **V5, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.6},
    "v5 + low 0.7 + unknown over 0.7 (en 0.8)": {
        **V5, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.8},
    "v5 + low 0.7 + unknown over 0.9 (en 0.8)": {
        **V5, "low_sup_min": 0.7, "unknown_over": 0.9, "unknown_en": 0.8},
    "v5 + low 0.7 + unknown over 0.7 + skip 0.99": {
        **V5, "skip": {None: 0.99, "en": 0.4}, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.4},
    "v5 + low 0.9 + unknown over 0.9 + skip 0.99": {
        **V5, "skip": {None: 0.99, "en": 0.4}, "low_sup_min": 0.9, "unknown_over": 0.9, "unknown_en": 0.4},
    "v5 + low 0.7 + unknown over 0.7 (en 0.8) + skip 0.99": {
        **V5, "skip": {None: 0.99, "en": 0.4}, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.8},
    "v5 + low 0.9 + unknown over 0.9 (en 0.8) + skip 0.99": {
        **V5, "skip": {None: 0.99, "en": 0.4}, "low_sup_min": 0.9, "unknown_over": 0.9, "unknown_en": 0.8},
    "v5 + low 0.7 + unknown over 0.7 (en 0.9)": {
        **V5, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.9},
    "v5 + low 0.7 + unknown over 0.7 (en 0.8) + skip 0.95": {
        **V5, "skip": {None: 0.95, "en": 0.4}, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.8},
    "v5 + low 0.7 + unknown over 0.7 (en 0.8) sup 0.5": {
        **V5, "sup_min": 0.5, "low_sup_min": 0.7, "unknown_over": 0.7, "unknown_en": 0.8},
    "v5 skip 0.97": {**V5, "skip": {None: 0.97, "en": 0.4}},
    "v5 skip 0.99": {**V5, "skip": {None: 0.99, "en": 0.4}},
    "v5 w2": {**V5, "w": 2.0},
    "v5 w3": {**V5, "w": 3.0},
}


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/webpairs_lid_wheels"))
  ap.add_argument("--heliport-python", required=True,
                  help="a Python with heliport installed (GPLv3: its own venv), for the alt-text agreement")
  ap.add_argument("--features", type=pathlib.Path, default=None, help="cache file for model outputs")
  args = ap.parse_args()
  rows = [r for r in lid_eval_set.build(args.cache) if r[3] == "tune"]
  sets = {"registry tune": ([r[1] for r in rows], [r[0] for r in rows])}
  udhr = [r for r in lid_eval_set.udhr_rows(args.cache) if r[3] == "tune"]
  sets["udhr tune"] = ([r[1] for r in udhr], [r[0] for r in udhr])
  texts, gold = [], []
  for f in sorted(lid_quality.REAL.glob("*.test.jsonl")):
    for line in f.read_text(encoding="utf-8").splitlines()[:2000]:
      texts.append(json.loads(line)["sentences"][0])
      gold.append(f.name.split(".")[0])
  sets["real captions"] = (texts, gold)
  alt = lid_quality.alttexts()
  iso = lid_quality._iso3_to_1(args.cache)
  heli = lid_quality.run_heliport(alt, args.heliport_python, iso)[0]
  known = lid_quality.lid176_languages()
  # The cache holds for these texts and this supplement only (a changed code fold reorders the sets).
  key = hashlib.sha256(json.dumps([[t for t, _ in sets.values()], alt]).encode())
  key.update(pathlib.Path(lid.supplement_model_path()).read_bytes() + inspect.getsource(features).encode())
  key.update(english_words._DATA.read_bytes() + inspect.getsource(english_words).encode())
  cached = json.loads(args.features.read_text()) if args.features and args.features.exists() else {}
  if cached.get("key") == key.hexdigest():
    feats = cached["feats"]
  else:
    feats = {name: features(t) for name, (t, _) in sets.items()}
    feats["alt"] = features(alt)
    if args.features:
      args.features.write_text(json.dumps({"key": key.hexdigest(), "feats": feats}))
  # The replayed shipped rule must match LanguageIdentifier on the alt-texts.
  real = [coarse(p) for p in lid.LanguageIdentifier().predict(alt)]
  replay = [coarse(mix_rule(f, VARIANTS["shipped"], known)) for f in feats["alt"]]
  assert real == replay, sum(a != b for a, b in zip(real, replay))
  print(f"{'variant':<30}{'tune macro':>11}{'udhr tune':>10}{'real capt':>10}{'alt agree':>10}{'rare':>6}")
  for name, v in VARIANTS.items():
    tune, udhr_tune, real_capt = (
        lid_quality.score(g, predict(feats[sname], v, known))[0] for sname, (_, g) in sets.items())
    agree, rare = lid_quality.alt_proxy(predict(feats["alt"], v, known), heli, ref=[])
    print(f"{name:<30}{tune:>11.4f}{udhr_tune:>10.4f}{real_capt:>10.4f}{agree:>10.4f}{rare:>6}")

if __name__ == "__main__":
  main()
