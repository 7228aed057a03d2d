"""GeoDE: 40 everyday objects photographed by crowd workers in 19+ countries of six regions.

`index.csv` (file_path, object, ip_country, region; more columns are ignored) lists the
images, at `<root>/<file_path>`. The repository's `imagenet_synsets.csv` (class, synsets;
no header) fixes the class list and `country_to_region.csv` (country, region) the regions;
both are used when they sit beside index.csv.
"""

from __future__ import annotations

import csv
import os

from webpairs.eval.datasets.base import ClassificationSet, pretty_name

INDEX_CSV = "index.csv"
CLASSES_CSV = "imagenet_synsets.csv"
REGIONS_CSV = "country_to_region.csv"
# Classes named "A_B" that mean "A or B" (the rest are multi-word names).
ALIASES = {
    "Hairbrush_comb": ("hairbrush", "comb"),
    "Streetlight_lantern": ("streetlight", "lantern"),
    "Toothpaste_toothpowder": ("toothpaste", "toothpowder"),
}


def _key(name: str) -> str:
  # index.csv and the repository spell names with spaces or underscores and any case.
  return "_".join(name.strip().lower().replace("_", " ").split())


def read_classes(path: str) -> list[str]:
  """imagenet_synsets.csv -> the class names in file order (first column)."""
  with open(path, newline="", encoding="utf-8") as f:
    return [row[0].strip() for row in csv.reader(f) if row and row[0].strip()]


def read_regions(path: str) -> dict[str, str]:
  """country_to_region.csv -> {country: region}."""
  with open(path, newline="", encoding="utf-8") as f:
    return {row["country"].strip(): row["region"].strip() for row in csv.DictReader(f)}


def classnames(classes: list[str]) -> tuple[tuple[str, ...], ...]:
  return tuple(ALIASES.get(c, (pretty_name(c).lower(),)) for c in classes)


def parse_index(path: str, *, classes: list[str] | None = None, regions: dict[str, str] | None = None,
                image_root: str | None = None, name: str = "geode") -> ClassificationSet:
  """index.csv with the class list (default: sorted objects) and country regions (default: the region column)."""
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  if rows:
    missing = {"file_path", "object", "ip_country"} - set(rows[0])
    if missing:
      raise ValueError(f"{path}: missing columns {sorted(missing)}")
  if classes is None:
    classes = sorted({r["object"].strip() for r in rows})
  ids = {_key(c): i for i, c in enumerate(classes)}
  region_of = {_key(c): r for c, r in (regions or {}).items()}
  paths, labels, country, region = [], [], [], []
  for r in rows:
    obj = _key(r["object"])
    if obj not in ids:
      raise ValueError(f"{path}: object {r['object']!r} is not one of the {len(classes)} GeoDE classes")
    c = r["ip_country"].strip()
    reg = region_of.get(_key(c)) or (r.get("region") or "").strip()
    if not reg:
      raise ValueError(f"{path}: no region for country {c!r}")
    paths.append(r["file_path"].strip())
    labels.append(frozenset([ids[obj]]))
    country.append(c.replace("_", " "))
    region.append(reg)
  return ClassificationSet(name=name, root=image_root if image_root is not None else os.path.dirname(path),
                           paths=tuple(paths), labels=tuple(labels), classnames=classnames(classes),
                           attributes={"region": tuple(region), "country": tuple(country)})


def load(root: str, *, check: bool = True) -> ClassificationSet:
  """GeoDE under `root`: index.csv, plus imagenet_synsets.csv and country_to_region.csv when present."""
  index = os.path.join(root, INDEX_CSV)
  if not os.path.isfile(index):
    raise FileNotFoundError(f"GeoDE metadata not found: {index}")
  classes_csv, regions_csv = os.path.join(root, CLASSES_CSV), os.path.join(root, REGIONS_CSV)
  ds = parse_index(index, classes=read_classes(classes_csv) if os.path.isfile(classes_csv) else None,
                   regions=read_regions(regions_csv) if os.path.isfile(regions_csv) else None, image_root=root)
  if check:
    ds.check_images()
  return ds
