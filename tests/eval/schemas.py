"""Small fixtures written in the published metadata schemas of the eval sets whose metadata is not in shared data."""

from __future__ import annotations

import csv
import json
import pathlib
from collections.abc import Sequence

from tests.eval.fakes import solid_image


def write_csv(path: pathlib.Path, header: Sequence[str], rows: Sequence[Sequence]) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)
  return path


def images(root: pathlib.Path, paths_colours: Sequence[tuple[str, str]]) -> None:
  for rel, colour in paths_colours:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    solid_image(path, colour)


# MLCommons Dollar Street (images_v2_imagenet_test.csv): id, country.name, country.id, region.id, imageRelPath,
# topics, place, income, imagenet_synonyms, imagenet_sysnet_id; the first, unnamed column is pandas' index.
MLCOMMONS_HEADER = ("", "id", "country.name", "country.id", "region.id", "imageRelPath", "topics", "place", "income",
                    "imagenet_synonyms", "imagenet_sysnet_id")


def mlcommons_dollarstreet(root: pathlib.Path, with_images: bool = True) -> None:
  rows = [
      (0, "5d4bde1d", "Burundi", "bi", "af", "assets/5d4bde1d/5d4bde1d.jpg", "['stoves']", "kitchen", 27.9,
       "['stove']", "[827]"),
      (1, "5d4bf0a1", "India", "in", "as", "assets/5d4bf0a1/5d4bf0a1.jpg", "['cooking pots', 'stoves']", "kitchen",
       450.0, "['stove', 'frying pan']", "[827, 567]"),
      (2, "5d4c1f22", "Sweden", "se", "eu", "assets/5d4c1f22/5d4c1f22.jpg", "['toothbrushes']", "bathroom", 5200.0,
       "['toothbrush']", "[999]"),
      (3, "5d4c2a90", "Mexico", "mx", "am", "assets/5d4c2a90/5d4c2a90.jpg", "['cooking pots']", "kitchen", 1998.0,
       "['frying pan']", "[567]"),
  ]
  write_csv(root / "images_v2_imagenet_test.csv", MLCOMMONS_HEADER, rows)
  if with_images:
    images(root, [(r[5], c) for r, c in zip(rows, ("red", "blue", "green", "yellow"))])


# GeoDE index.csv: file_path, object, ip_country, region (plus columns the loader ignores).
GEODE_HEADER = ("file_path", "object", "region", "ip_country", "sample_id")


def geode_index(root: pathlib.Path, rows: Sequence[tuple[str, str, str, str]], with_images: bool = True) -> None:
  write_csv(root / "index.csv", GEODE_HEADER, [(p, o, r, c, i) for i, (p, o, r, c) in enumerate(rows)])
  if with_images:
    images(root, [(r[0], "gray") for r in rows])


def gldv2(root: pathlib.Path) -> None:
  """Three index images of two landmarks, four queries (one matching both landmarks, one ignored, one unmatched)."""
  write_csv(root / "index_image_to_landmark.csv", ("id", "landmark_id"),
            [("a1b2c3d4e5f60001", "12"), ("a1b2c3d4e5f60002", "12"), ("f0e1d2c3b4a50003", "7")])
  write_csv(root / "index_label_to_category.csv", ("landmark_id", "category"),
            [("7", "http://commons.wikimedia.org/wiki/Category:Haleakal%C4%81_National_Park"),
             ("12", "http://commons.wikimedia.org/wiki/Category:Kazan_Kremlin"),
             ("99", "http://commons.wikimedia.org/wiki/Category:Unused_Landmark")])
  write_csv(root / "retrieval_solution_v2.1.csv", ("id", "images", "Usage"),
            [("0123456789abcdef", "a1b2c3d4e5f60001 a1b2c3d4e5f60002", "Public"),
             ("1123456789abcdef", "f0e1d2c3b4a50003 a1b2c3d4e5f60001", "Private"),
             ("2123456789abcdef", "None", "Ignored"),
             ("3123456789abcdef", "f0e1d2c3b4a50003", "Ignored")])


def xm3600_captions(root: pathlib.Path, records: Sequence[dict]) -> None:
  """captions.jsonl: {"image/key": ID, "<lang>": {"caption": [...], "caption/tokenized": [...], ...}}."""
  root.mkdir(parents=True, exist_ok=True)
  with open(root / "captions.jsonl", "w", encoding="utf-8") as f:
    for r in records:
      line = {"image/key": r["key"]}
      for lang, caps in r["captions"].items():
        line[lang] = {"caption": caps, "caption/tokenized": [c.lower() for c in caps],
                      "caption/tokenized/lowercase": [c.lower() for c in caps]}
      f.write(json.dumps(line, ensure_ascii=False) + "\n")


# Dollar Street metadata.csv (facebookresearch/dollarstreet_factors), as in shared data.
DOLLARSTREET_HEADER = ("", "country", "url", "income", "lat", "lng", "region", "label", "sin21k_targets_alibaba",
                       "sin21k_labels_alibaba", "sin21k_targets", "sin21k_labels")


def dollarstreet_metadata(root: pathlib.Path, rows: Sequence[dict]) -> None:
  """rows: {country, region, income, labels, colour, spot (optional)}; images drawn solid (with a spot)."""
  out = []
  for i, r in enumerate(rows):
    name = f"480x480-{i:04d}.jpg"
    url = f"http://static.dollarstreet.org/media/{r['country']}%201/image/{i:04d}/{name}"
    out.append((i, r["country"], url, r["income"], 0.0, 0.0, r["region"], repr(list(r["labels"])), "[]", "[]",
                "[]", "[]"))
    (root / "images").mkdir(parents=True, exist_ok=True)
    solid_image(root / "images" / name, r["colour"], spot=r.get("spot"))
  write_csv(root / "metadata.csv", DOLLARSTREET_HEADER, out)
