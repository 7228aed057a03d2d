"""MaRVL: culturally specific concepts chosen by native speakers of id, sw, ta, tr and zh, with statements on image pairs.

`marvl-<lang>.jsonl` (in `<root>/marvl-annotations/` or `<root>/`) holds statements about
(left_img, right_img) pairs of one concept ('39-Panci'); images are at
`<root>/marvl-images/<lang>/images/<concept>/<img>`. The loader turns the images the
statements use into concept classification in each image's own language: an image
competes among its language's concepts, named in that language.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from collections.abc import Sequence

from webpairs.eval.datasets.base import ClassificationSet, pretty_name

LANGUAGES = ("id", "sw", "ta", "tr", "zh")
ANNOTATIONS_DIR = "marvl-annotations"
IMAGES_DIR = "marvl-images"
_FILE = re.compile(r"marvl-(?P<lang>[a-z]+)\.jsonl$")


@dataclasses.dataclass(frozen=True)
class Statement:
  """One MaRVL example: is `caption` true of the (left, right) image pair?"""

  id: str
  language: str
  concept: str
  chapter: str
  caption: str
  left: str
  right: str
  label: bool


def concept_name(concept: str) -> str:
  """'39-Panci' -> 'Panci'; '40-உழவு_இயந்திரம்' -> 'உழவு இயந்திரம்'."""
  number, sep, name = concept.partition("-")
  return pretty_name(name if sep and number.isdigit() else concept)


def read_statements(path: str) -> list[Statement]:
  out = []
  with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      r = json.loads(line)
      try:
        out.append(Statement(id=r["id"], language=r["language"], concept=r["concept"], chapter=r.get("chapter", ""),
                             caption=r["caption"], left=r["left_img"], right=r["right_img"], label=bool(r["label"])))
      except KeyError as e:
        raise ValueError(f"{path}:{n}: missing field {e}") from None
  return out


def image_path(lang: str, concept: str, image: str) -> str:
  return f"{IMAGES_DIR}/{lang}/images/{concept}/{image}"


def annotation_files(root: str, languages: Sequence[str] | None = None) -> dict[str, str]:
  """{language: jsonl path} found under root/marvl-annotations or root."""
  folder = os.path.join(root, ANNOTATIONS_DIR)
  folder = folder if os.path.isdir(folder) else root
  found = {}
  for path in sorted(glob.glob(os.path.join(folder, "marvl-*.jsonl"))):
    m = _FILE.search(os.path.basename(path))
    if m:
      found[m["lang"]] = path
  if languages is not None:
    absent = [x for x in languages if x not in found]
    if absent:
      raise FileNotFoundError(f"MaRVL annotations not found for {', '.join(absent)} in {folder}")
    found = {x: found[x] for x in languages}
  if not found:
    raise FileNotFoundError(f"no marvl-<lang>.jsonl in {folder}")
  return found


def concept_set(statements: Sequence[Statement], root: str, name: str = "marvl") -> ClassificationSet:
  """Every image the statements use, once, labelled with its concept; classes are (language, concept)."""
  classes: dict[tuple[str, str], int] = {}
  images: dict[str, tuple[int, str, str]] = {}  # path -> (class, language, chapter)
  for s in statements:
    c = classes.setdefault((s.language, s.concept), len(classes))
    for img in (s.left, s.right):
      images.setdefault(image_path(s.language, s.concept, img), (c, s.language, s.chapter))
  paths = tuple(images)
  return ClassificationSet(
      name=name, root=root, paths=paths, labels=tuple(frozenset([images[p][0]]) for p in paths),
      classnames=tuple((concept_name(concept),) for _, concept in classes),
      attributes={"language": tuple(images[p][1] for p in paths), "chapter": tuple(images[p][2] for p in paths)},
      partition="language", class_partition=tuple(lang for lang, _ in classes))


def load(root: str, *, languages: Sequence[str] | None = None, check: bool = True) -> ClassificationSet:
  statements = [s for path in annotation_files(root, languages).values() for s in read_statements(path)]
  ds = concept_set(statements, root)
  if check:
    ds.check_images()
  return ds
