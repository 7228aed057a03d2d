"""Writes webpairs/curation/data/language_aliases.json: Unicode CLDR's aliases from a three-letter
language code to a two-letter one ('hau' -> 'ha', 'cat' -> 'ca', 'arb' -> 'ar'), read from the
Babel wheel's babel/global.dat (CLDR data, Unicode License v3). webpairs.curation.lid.fold reads it
so that a label given as an ISO 639-3 code counts under the ISO 639-1 code of its language.

  PYTHONPATH=. .venv/bin/python benchmarks/cldr_language_aliases.py --cache /tmp/lid_wheels
"""

from __future__ import annotations

import argparse
import json
import pathlib
import pickle
import sys
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import lid_train_corpus  # noqa: E402

OUT = pathlib.Path("webpairs/curation/data/language_aliases.json")


def two_letter_aliases(babel_wheel: pathlib.Path) -> dict[str, str]:
  """CLDR's language aliases whose source is three letters and whose target a bare two-letter code."""
  with zipfile.ZipFile(babel_wheel) as z:
    aliases = pickle.loads(z.read("babel/global.dat"))["language_aliases"]  # plain dicts of str
  return {k: v for k, v in sorted(aliases.items()) if len(k) == 3 and k.isalpha() and len(v) == 2 and v.isalpha()}


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/webpairs_lid_wheels"))
  ap.add_argument("--out", type=pathlib.Path, default=OUT)
  args = ap.parse_args()
  table = two_letter_aliases(lid_train_corpus.fetch(args.cache, "babel", lid_train_corpus.BABEL))
  args.out.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n", encoding="utf-8")
  print(f"{len(table)} aliases -> {args.out}")


if __name__ == "__main__":
  main()
