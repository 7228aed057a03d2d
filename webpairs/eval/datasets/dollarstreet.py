"""Dollar Street: household objects photographed in homes of 54+ countries at every income level.

Two published metadata formats:
- `metadata.csv` (facebookresearch/dollarstreet_factors): country, url, income, lat, lng,
  region, label (a list of Dollar Street topics), sin21k_labels (ImageNet-21k names).
  Images live in `<root>/images/` under the file name of their url (what `wget -i` writes).
- MLCommons `images_v2_imagenet_{train,test}.csv`: id, country.name, country.id, region.id,
  income, imageRelPath, topics, imagenet_synonyms, imagenet_sysnet_id. Images live at
  `<root>/<imageRelPath>`.
"""

from __future__ import annotations

import ast
import csv
import os
import posixpath
import urllib.parse
from collections.abc import Mapping, Sequence

from webpairs.eval.datasets.base import ClassificationSet, index_classes, pretty_name

METADATA_CSV = "metadata.csv"
MLCOMMONS_CSV = "images_v2_imagenet_{split}.csv"
IMAGES_DIR = "images"
# Monthly household income in USD, as the Dollar Street papers bucket it.
INCOME_EDGES = (200.0, 685.0, 1998.0)
INCOME_BUCKETS = ("0-200", "200-685", "685-1998", ">1998")
# MLCommons region ids -> the region names of metadata.csv.
REGION_IDS = {"af": "Africa", "am": "The Americas", "as": "Asia", "eu": "Europe"}
CLASS_SOURCES = ("topics", "imagenet")


def income_bucket(income: float) -> str:
  """USD/month -> '0-200', '200-685', '685-1998' or '>1998' (upper edges belong to the lower bucket)."""
  for edge, name in zip(INCOME_EDGES, INCOME_BUCKETS):
    if income <= edge:
      return name
  return INCOME_BUCKETS[-1]


def _list(cell: str) -> list:
  value = ast.literal_eval(cell) if cell.strip() else []
  return list(value) if isinstance(value, (list, tuple)) else [value]


def _imagenet_aliases(label: str) -> tuple[str, ...]:
  # WordNet style: 'pan, cooking_pan' names one synset twice.
  return tuple(dict.fromkeys(pretty_name(a) for a in label.split(",") if a.strip()))


def _build(name: str, root: str, paths: list[str], class_lists: list[list[str]],
           aliases_of: Mapping[str, Sequence[str]], country: list[str], region: list[str], income: list[float]
           ) -> ClassificationSet:
  ids = index_classes([c for cls in class_lists for c in cls])
  classnames = tuple(tuple(aliases_of.get(c) or (pretty_name(c),)) for c in ids)
  labels = tuple(frozenset(ids[c] for c in cls) for cls in class_lists)
  return ClassificationSet(
      name=name, root=root, paths=tuple(paths), labels=labels, classnames=classnames,
      attributes={"income": tuple(income_bucket(x) for x in income), "region": tuple(region),
                  "country": tuple(country)},
      group_order={"income": INCOME_BUCKETS})


def parse_metadata_csv(path: str, *, image_root: str | None = None, classes: str = "topics",
                       aliases: Mapping[str, Sequence[str]] | None = None, name: str = "dollarstreet"
                       ) -> ClassificationSet:
  """The metadata.csv format. classes: 'topics' (the label column) or 'imagenet' (sin21k_labels)."""
  if classes not in CLASS_SOURCES:
    raise ValueError(f"classes must be one of {CLASS_SOURCES}, got {classes!r}")
  root = image_root if image_root is not None else os.path.join(os.path.dirname(path), IMAGES_DIR)
  paths, class_lists, country, region, income = [], [], [], [], []
  alias_table: dict[str, Sequence[str]] = {}
  with open(path, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
      url_path = urllib.parse.urlparse(row["url"]).path
      paths.append(urllib.parse.unquote(posixpath.basename(url_path)))
      if classes == "topics":
        cls = [str(x) for x in _list(row["label"])]
      else:
        cls = [str(x) for x in _list(row["sin21k_labels"])]
        alias_table.update({c: _imagenet_aliases(c) for c in cls})
      class_lists.append(list(dict.fromkeys(cls)))
      country.append(row["country"])
      region.append(row["region"])
      income.append(float(row["income"]))
  alias_table.update(aliases or {})
  return _build(name, root, paths, class_lists, alias_table, country, region, income)


def parse_mlcommons_csv(paths: Sequence[str], *, image_root: str | None = None, classes: str = "imagenet",
                        aliases: Mapping[str, Sequence[str]] | None = None, name: str = "dollarstreet"
                        ) -> ClassificationSet:
  """The MLCommons images_v2_imagenet_*.csv format (one or more split files, concatenated).

  classes: 'imagenet' (ImageNet-1k ids of imagenet_sysnet_id, named by imagenet_synonyms)
  or 'topics'.
  """
  if classes not in CLASS_SOURCES:
    raise ValueError(f"classes must be one of {CLASS_SOURCES}, got {classes!r}")
  root = image_root if image_root is not None else os.path.dirname(paths[0])
  files, class_lists, country, region, income = [], [], [], [], []
  alias_table: dict[str, list[str]] = {}
  for path in paths:
    with open(path, newline="", encoding="utf-8") as f:
      for row in csv.DictReader(f):
        files.append(row["imageRelPath"])
        if classes == "topics":
          cls = [str(x) for x in _list(row["topics"])]
        else:
          ids = [int(x) for x in _list(row["imagenet_sysnet_id"])]
          names = [str(x) for x in _list(row["imagenet_synonyms"])]
          if len(ids) != len(names):
            raise ValueError(f"{path}: row {row.get('id')} has {len(ids)} ImageNet ids but {len(names)} names")
          # Zero-padded ids sort numerically; the names are the classes' aliases.
          cls = [f"imagenet{i:04d}" for i in ids]
          for c, n in zip(cls, names):
            known = alias_table.setdefault(c, [])
            if pretty_name(n) not in known:
              known.append(pretty_name(n))
        class_lists.append(list(dict.fromkeys(cls)))
        country.append(row["country.name"])
        region_id = row["region.id"].strip().lower()
        region.append(REGION_IDS.get(region_id, region_id))
        income.append(float(row["income"]))
  table: dict[str, Sequence[str]] = dict(alias_table)
  table.update(aliases or {})
  return _build(name, root, files, class_lists, table, country, region, income)


def load(root: str, *, split: str = "test", classes: str | None = None,
         aliases: Mapping[str, Sequence[str]] | None = None, check: bool = True) -> ClassificationSet:
  """Dollar Street under `root`: metadata.csv if present, else the MLCommons CSVs of `split` ('train', 'test', 'all')."""
  meta = os.path.join(root, METADATA_CSV)
  if os.path.isfile(meta):
    ds = parse_metadata_csv(meta, classes=classes or "topics", aliases=aliases)
  else:
    splits = ("train", "test") if split == "all" else (split,)
    csvs = [os.path.join(root, MLCOMMONS_CSV.format(split=s)) for s in splits]
    absent = [c for c in csvs if not os.path.isfile(c)]
    if absent:
      raise FileNotFoundError(f"Dollar Street metadata not found: no {meta} and no {', '.join(absent)}")
    ds = parse_mlcommons_csv(csvs, image_root=root, classes=classes or "imagenet", aliases=aliases)
  if check:
    ds.check_images()
  return ds
