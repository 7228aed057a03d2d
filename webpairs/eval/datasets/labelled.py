"""User-labelled images for bias measurements: `<root>/attributes.csv` with columns file_path, attribute.

An empty attribute marks an image without people (representation bias is measured on
those); other values are the sensitive attribute the image shows (association bias).
"""

from __future__ import annotations

import csv
import os

from webpairs.eval.datasets.base import AttributeSet

ATTRIBUTES_CSV = "attributes.csv"


def parse(path: str, *, image_root: str | None = None, name: str = "labelled") -> AttributeSet:
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  if rows and not {"file_path", "attribute"} <= set(rows[0]):
    raise ValueError(f"{path}: needs columns file_path and attribute, has {sorted(rows[0])}")
  return AttributeSet(name=name, root=image_root if image_root is not None else os.path.dirname(path),
                      paths=tuple(r["file_path"].strip() for r in rows),
                      attribute=tuple((r["attribute"] or "").strip() for r in rows))


def load(root: str, *, check: bool = True) -> AttributeSet:
  path = os.path.join(root, ATTRIBUTES_CSV)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"labelled images not found: {path} (columns file_path, attribute)")
  ds = parse(path, image_root=root)
  if check:
    ds.check_images()
  return ds
