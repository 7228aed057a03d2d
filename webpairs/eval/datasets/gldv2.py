"""Google Landmarks v2: zero-shot landmark recognition, landmark names taken from their Wikimedia category URLs.

Files under `<root>` as the dataset publishes them: retrieval_solution_v2.1.csv (id,
images, Usage), index_image_to_landmark.csv (id, landmark_id), index_label_to_category.csv
(landmark_id, category URL). Images at `<root>/{test,index}/a/b/c/abc....jpg`.
split='test': the retrieval queries that have matches (Usage Public or Private), each
labelled with the landmarks of its matching index images (any of them counts);
split='index': the index images, each with its landmark.
"""

from __future__ import annotations

import csv
import os
import urllib.parse

from webpairs.eval.datasets.base import ClassificationSet, pretty_name

SOLUTION_CSV = "retrieval_solution_v2.1.csv"
IMAGE_TO_LANDMARK_CSV = "index_image_to_landmark.csv"
LABEL_TO_CATEGORY_CSV = "index_label_to_category.csv"
SPLITS = ("test", "index")
_CATEGORY = "Category:"


def landmark_name(category_url: str) -> str:
  """'http://commons.wikimedia.org/wiki/Category:Haleakal%C4%81_National_Park' -> 'Haleakalā National Park'."""
  tail = urllib.parse.unquote(category_url.strip().rstrip("/").rsplit("/", 1)[-1])
  if tail.startswith(_CATEGORY):
    tail = tail[len(_CATEGORY):]
  return pretty_name(tail)


def image_path(split: str, image_id: str) -> str:
  """GLDv2's nested layout: split/a/b/c/abc....jpg from the id's first three characters."""
  return "/".join([split, image_id[0], image_id[1], image_id[2], image_id + ".jpg"])


def _read(path: str) -> list[dict[str, str]]:
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def parse(root: str, *, split: str = "test", name: str = "gldv2") -> ClassificationSet:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  files = {f: os.path.join(root, f) for f in (SOLUTION_CSV, IMAGE_TO_LANDMARK_CSV, LABEL_TO_CATEGORY_CSV)}
  needed = [f for f in files if f != SOLUTION_CSV or split == "test"]
  absent = [files[f] for f in needed if not os.path.isfile(files[f])]
  if absent:
    raise FileNotFoundError(f"GLDv2 metadata not found: {', '.join(absent)}")
  landmark_of = {r["id"].strip(): r["landmark_id"].strip() for r in _read(files[IMAGE_TO_LANDMARK_CSV])}
  names = {r["landmark_id"].strip(): landmark_name(r["category"]) for r in _read(files[LABEL_TO_CATEGORY_CSV])}

  items: list[tuple[str, list[str]]] = []  # (image path, landmark ids)
  if split == "index":
    items = [(image_path("index", i), [lm]) for i, lm in landmark_of.items()]
  else:
    for r in _read(files[SOLUTION_CSV]):
      matches = r["images"].split()
      if r["Usage"].strip() == "Ignored" or not matches or matches == ["None"]:
        continue  # queries without landmarks (distractors) have nothing to recognise
      unknown = [m for m in matches if m not in landmark_of]
      if unknown:
        raise ValueError(f"{SOLUTION_CSV}: query {r['id']} matches index images with no landmark: {unknown[:3]}")
      items.append((image_path("test", r["id"].strip()), sorted({landmark_of[m] for m in matches})))
  used = sorted({lm for _, lms in items for lm in lms}, key=lambda x: (len(x), x))  # numeric order
  unnamed = [lm for lm in used if lm not in names]
  if unnamed:
    raise ValueError(f"{LABEL_TO_CATEGORY_CSV}: no category for landmarks {unnamed[:5]}")
  ids = {lm: i for i, lm in enumerate(used)}
  return ClassificationSet(
      name=name, root=root, paths=tuple(p for p, _ in items),
      labels=tuple(frozenset(ids[lm] for lm in lms) for _, lms in items),
      classnames=tuple((names[lm],) for lm in used), attributes={})


def load(root: str, *, split: str = "test", check: bool = True) -> ClassificationSet:
  ds = parse(root, split=split)
  if check:
    ds.check_images()
  return ds
