"""The selection format that `select` writes and `materialize` reads.

`SEL/selection-<suffix>.parquet` per `annotations-<suffix>.parquet`, one row per
annotation row in the same order, rejected rows included; `SEL/summary.json` beside.
"""

from __future__ import annotations

import posixpath

import pyarrow as pa

from webpairs.formats import files
from webpairs.formats.annotation_files import ANNOTATION_PREFIX

SELECTION_PREFIX = "selection-"
SUMMARY_FILE = "summary.json"
FORMAT_VERSION = 1

SELECTION_SCHEMA = pa.schema([
    ("source", pa.string()),  # raw shard path, from the annotations
    ("offset", pa.int64()),  # position of the example in its shard
    ("key", pa.string()),
    ("keep", pa.bool_()),
    ("repeat", pa.int32()),  # copies to write: >= 1 when keep, 0 when not
    ("cluster_id", pa.string()),  # "source#key" of the duplicate cluster's canonical example (own id if none)
    ("reason", pa.string()),  # 'ok' or the first failing rule
    ("reasons", pa.list_(pa.string())),  # every failing rule, in check order
    ("lang", pa.string()),  # the annotation's lang, 'und' when it has none
])


def example_id(source: str, key: str) -> str:
  """The unique id of an example: keys repeat across shards of different datasets."""
  return f"{source}#{key}"


def selection_path(output_dir: str, annotation_path: str) -> str:
  """SEL/selection-<suffix>.parquet for ANN/annotations-<suffix>.parquet."""
  name = posixpath.basename(annotation_path)
  suffix = name[len(ANNOTATION_PREFIX):] if name.startswith(ANNOTATION_PREFIX) else name
  return files.join(output_dir, SELECTION_PREFIX + suffix)


def selection_glob(output_dir: str) -> str:
  return files.join(output_dir, f"{SELECTION_PREFIX}*.parquet")
