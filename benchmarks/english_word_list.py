"""Writes webpairs/curation/data/english_words.txt: the words of Debian's wamerican and wbritish
packages (SCOWL, Spell Checker Oriented Word Lists, size 50: American and British spellings,
proper names, abbreviations), lower-cased, split at apostrophes and hyphens, of 3 letters or more.
webpairs.curation.english_words reads it to tell whether a caption is written in English words,
where lid.176's English alone guards the mix (webpairs.curation.lid).

SCOWL's licence (permissive: use, copy, modify, distribute and sell, with its notice kept) is
copied beside the list, english_words_LICENSE.txt.

  PYTHONPATH=. .venv/bin/python benchmarks/english_word_list.py --cache /tmp/lid_wheels
"""

from __future__ import annotations

import argparse
import io
import pathlib
import re
import subprocess
import tarfile

OUT = pathlib.Path("webpairs/curation/data/english_words.txt")
LICENSE = OUT.with_name("english_words_LICENSE.txt")
PACKAGES = {"wamerican": "usr/share/dict/american-english", "wbritish": "usr/share/dict/british-english"}
MIN_LETTERS = 3
_WORD = re.compile(r"[^\W\d_]+")


def fetch_deb(cache: pathlib.Path, name: str) -> pathlib.Path:
  """The .deb of Debian package `name` in `cache`, fetched with `apt-get download` when missing."""
  cache.mkdir(parents=True, exist_ok=True)
  if not list(cache.glob(f"{name}_*.deb")):
    subprocess.run(["apt-get", "download", "-q", name], cwd=cache, check=True, capture_output=True)
  return sorted(cache.glob(f"{name}_*.deb"))[-1]


def deb_files(deb: pathlib.Path, paths: list[str]) -> dict[str, bytes]:
  """The named files of a .deb's file system (symlinks followed inside it)."""
  fs = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True).stdout
  out = {}
  with tarfile.open(fileobj=io.BytesIO(fs)) as tar:
    for path in paths:
      member = tar.getmember("./" + path)
      if member.issym():
        member = tar.getmember("./" + str(pathlib.PurePosixPath(path).parent / member.linkname))
      out[path] = tar.extractfile(member).read()
  return out


def words(lists: list[str]) -> list[str]:
  """Sorted lower-cased words of 3 letters or more in word lists (possessive entries dropped)."""
  found = set()
  for text in lists:
    for entry in text.split("\n"):
      if entry.endswith("'s"):
        continue  # 'Aachen's': the base word is listed
      found.update(w for w in _WORD.findall(entry.lower()) if len(w) >= MIN_LETTERS)
  return sorted(found)


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/webpairs_lid_wheels"))
  args = ap.parse_args()
  lists, copyright_text = [], None
  for name, path in PACKAGES.items():
    deb = fetch_deb(args.cache, name)
    doc = f"usr/share/doc/{name}/copyright"
    files = deb_files(deb, [path, doc])
    lists.append(files[path].decode("utf-8"))
    copyright_text = copyright_text or f"From {deb.name}:\n\n" + files[doc].decode("utf-8")
  table = words(lists)
  OUT.write_text("\n".join(table) + "\n", encoding="utf-8")
  LICENSE.write_text(copyright_text, encoding="utf-8")
  print(f"{len(table)} words -> {OUT}; licence -> {LICENSE}")


if __name__ == "__main__":
  main()
