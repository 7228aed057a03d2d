"""Writes planned output shards: first copies from the raw shards, repeats from the first copies.

One worker writes one output shard. First-copy shards stream the one or few raw shards
they cover, stopping after the last example they need, and report where each up-sampled
image landed; repeat shards then read those images back by seek. The sidecar is written
last and records the plan's fingerprint: a shard whose sidecar has the same fingerprint
is complete, and a rerun skips it.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from webpairs.curation import regions as regions_lib
from webpairs.formats.raw import RawExample, image_extension
from webpairs.curation.resize import DEFAULT_QUALITY, resize_shorter_side
from webpairs.formats import curated, files
from webpairs.pipelines.materialize import sinks
from webpairs.pipelines.raw import readers
from webpairs.pipelines.runtime import job, shuffle
from webpairs.pipelines.materialize.curated_plan import METRICS_NAMESPACE, plan_fingerprint

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: regions in the json member, the sidecar and TFRecord; 3: extension by format, extra
LOCATIONS = "locations"  # tag of ((source, offset), where its first copy's image is) for up-sampled examples

# Why a planned copy is not written, found while writing (see also curated_plan.py).
MISSING_IN_SOURCE = "missing_in_source"  # the raw shard has no example at that offset any more
READ_ERROR = "read_error"  # the raw shard cannot deliver the example's members now
MISSING_IMAGE = "missing_image"
SOURCE_CHANGED = "source_changed"  # image bytes differ from the annotated ones (sha256)
RESIZE_FAILED = "resize_failed"  # the image does not decode or encode
FIRST_COPY_CHANGED = "first_copy_changed"  # a repeat's bytes, read back, are not the first copy's

_OPEN_FILES = 16  # first-copy shards a repeat writer keeps open at once
# What a repeat takes from its first copy: the image, and the regions as they fit that image.
_LOCATION_FIELDS = ("image_offset", "image_bytes", "image_ext", "width", "height", "sha256", "regions")


def _image_member(ex: RawExample) -> tuple[str, bytes] | None:
  # The member annotate looked at: the first image extension present.
  ext = image_extension(ex.members)
  return (ext, ex.members[ext]) if ext else None


def _sidecar_row(copy: dict, image: dict) -> dict:
  row = {name: copy.get(name) for name in curated.SIDECAR_SCHEMA.names}
  row.update(image, original_width=copy["width"], original_height=copy["height"])
  return row


class _ShardFn(beam.DoFn):
  """Shared by both kinds of shard: file names, the completeness check, the sidecar."""

  REPEATS = False

  def __init__(self, output_dir: str, prefix: str, fmt: str, resize: int | None, quality: int,
               overwrite: bool):
    self._output_dir = output_dir
    self._prefix = prefix
    self._fmt = fmt
    self._resize = resize
    self._quality = quality
    self._overwrite = overwrite
    self._settings = {"format": fmt, "resize": resize, "quality": quality if resize else None,
                      "version": FORMAT_VERSION}
    self._written = Metrics.counter(METRICS_NAMESPACE, "examples")
    self._shards = Metrics.counter(METRICS_NAMESPACE, "shards")
    self._skipped = Metrics.counter(METRICS_NAMESPACE, "shards_already_done")
    self._failed = Metrics.counter(METRICS_NAMESPACE, "copies_not_written")

  def _paths(self, index: int) -> tuple[str, str]:
    stem = files.join(self._output_dir, curated.shard_stem(self._prefix, index))
    return f"{stem}.{curated.DATA_EXTENSIONS[self._fmt]}", f"{stem}.parquet"

  def _done_meta(self, data_path: str, sidecar_path: str, fingerprint: str) -> dict | None:
    """The sidecar footer of a complete shard made from the same plan, else None."""
    meta = job.finished_meta(sidecar_path, self._overwrite, fingerprint=fingerprint)
    if meta is None:
      return None
    try:
      size = files.match(data_path)[0].size
    except Exception:  # pylint: disable=broad-except
      return None  # no data file: write the shard again
    if meta.get("stats", {}).get("bytes") != size:
      return None
    self._skipped.inc()
    return meta

  def _finish(self, index: int, copies: list[dict], rows: list[dict], errors: collections.Counter,
              result: sinks.ShardFile, paths: tuple[str, str], meta: dict) -> dict:
    stats = {
        "index": index,
        "name": files.basename(paths[0]),
        "sidecar": files.basename(paths[1]),
        "repeats": self.REPEATS,
        "planned": len(copies),
        "examples": len(rows),
        "bytes": result.nbytes,
        "sha256": result.sha256,
        "errors": dict(sorted(errors.items())),
        "langs": dict(sorted(collections.Counter(r["lang"] or "und" for r in rows).items())),
    }
    meta = dict(meta, stats=stats)
    files.write_parquet_atomic(paths[1], sinks.sidecar_table(rows, meta))
    self._written.inc(len(rows))
    self._failed.inc(len(copies) - len(rows))
    self._shards.inc()
    return stats


class _WriteFirstCopiesFn(_ShardFn):
  """(shard index, first copies) -> stats; also LOCATIONS for examples that have repeats."""

  def __init__(self, *args, max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES):
    super().__init__(*args)
    self._max_member_bytes = max_member_bytes

  def _image(self, ex: RawExample, copy: dict) -> tuple[str | None, dict | None, bytes | None]:
    """(error, image fields, image bytes) of the example the copy comes from."""
    if ex.read_error:
      return READ_ERROR, None, None
    member = _image_member(ex)
    if member is None:
      return MISSING_IMAGE, None, None
    ext, data = member
    if hashlib.sha256(data).hexdigest() != copy["sha256"]:
      return SOURCE_CHANGED, None, None
    # PNG bytes stored as .jpg by a crawler are written as .png: loaders pick decoders by extension.
    ext = sinks.extension_for(copy.get("image_format"), ext)
    fields = {"image_ext": ext, "width": copy["width"], "height": copy["height"], "regions": copy["regions"]}
    if self._resize:
      try:
        resized = resize_shorter_side(data, self._resize, self._quality)
      except Exception as e:  # pylint: disable=broad-except
        log.warning("%s@%d: cannot resize: %s", ex.source, ex.offset, e)
        return RESIZE_FAILED, None, None
      data = resized.data
      fields.update(image_ext=resized.ext, width=resized.width, height=resized.height)
      if resized.orientation != 1 and copy["regions"]:
        # The resize keeps the whole picture (boxes hold) but turns it upright: turn the boxes too.
        turned = regions_lib.orient_regions(regions_lib.from_json(copy["regions"]), resized.orientation)
        fields["regions"] = regions_lib.to_json(turned)
    fields.update(sha256=hashlib.sha256(data).hexdigest(), image_bytes=len(data))
    return None, fields, data

  def _from_source(self, source: str, copies: list[dict], errors: collections.Counter,
                   failed: dict) -> Iterator[tuple[dict, bytes]]:
    """(sidecar row, image bytes) per writable copy: `source` is read once, only as far as needed."""
    wanted = {c["offset"]: c for c in copies}
    last = max(wanted)
    for ex in readers.read_shard(source, self._max_member_bytes):
      if ex.offset > last:
        break
      copy = wanted.pop(ex.offset, None)
      if copy is None:
        continue
      error, fields, data = self._image(ex, copy)
      if error:
        errors[error] += 1
        failed[(source, ex.offset)] = error
        continue
      yield _sidecar_row(copy, fields), data
    for offset in wanted:
      errors[MISSING_IN_SOURCE] += 1
      failed[(source, offset)] = MISSING_IN_SOURCE

  def _locations(self, data_name: str, copies: list[dict], rows: list[dict], failed: dict) -> Iterator[Any]:
    written = {(r["source"], r["offset"]): r for r in rows}
    for c in copies:
      if c["repeat"] < 2 or c["error"]:
        continue  # no repeats, or repeats that carry the same planning error already
      ident = (c["source"], c["offset"])
      if ident in written:
        location = {"file": data_name, **{k: written[ident][k] for k in _LOCATION_FIELDS}}
      else:
        location = {"error": failed.get(ident, MISSING_IN_SOURCE)}
      yield beam.pvalue.TaggedOutput(LOCATIONS, (ident, location))

  def process(self, element: tuple[int, Iterable[dict]]) -> Iterator[Any]:
    index, copies = element
    copies = sorted(copies, key=lambda c: c["order"])
    paths = self._paths(index)
    data_name = files.basename(paths[0])
    fingerprint = plan_fingerprint(copies, self._settings)
    done = self._done_meta(*paths, fingerprint)
    if done is not None:
      rows = files.read_parquet_columns(paths[1], ["source", "offset", *_LOCATION_FIELDS]).to_pylist()
      failed = {(s, o): e for s, o, e in done["failed"]}
      yield done["stats"]
      yield from self._locations(data_name, copies, rows, failed)
      return
    errors = collections.Counter(c["error"] for c in copies if c["error"])
    failed: dict[tuple[str, int], str] = {}
    rows: list[dict] = []
    with sinks.open_shard(paths[0], self._fmt) as (writer, result):
      # Copies are in (source, offset) order: each raw shard is read once, front to back.
      todo = [c for c in copies if not c["error"]]
      for source, group in itertools.groupby(todo, key=lambda c: c["source"]):
        for row, data in self._from_source(source, list(group), errors, failed):
          row["image_offset"] = writer.add(row, data)
          rows.append(row)
    # Repeats need to know why a first copy is missing: keep that in the sidecar footer too.
    meta = {"fingerprint": fingerprint, "failed": sorted([s, o, e] for (s, o), e in failed.items())}
    yield self._finish(index, copies, rows, errors, result, paths, meta)
    yield from self._locations(data_name, copies, rows, failed)


class _WriteRepeatsFn(_ShardFn):
  """(shard index, repeats with their first copy's location) -> stats, reading images by seek."""

  REPEATS = True

  def _read(self, handles: collections.OrderedDict, location: dict) -> bytes:
    name = location["file"]
    if name in handles:
      handles.move_to_end(name)
    else:
      if len(handles) >= _OPEN_FILES:
        handles.popitem(last=False)[1].close()
      handles[name] = files.open(files.join(self._output_dir, name))
    handle = handles[name]
    handle.seek(location["image_offset"])
    return handle.read(location["image_bytes"])

  def process(self, element: tuple[int, Iterable[dict]]) -> Iterator[dict]:
    index, copies = element
    # Hash order; ties (duplicate selection rows) broken by content, never by arrival order.
    copies = sorted(copies, key=lambda c: (c["order"], json.dumps(c, sort_keys=True)))
    paths = self._paths(index)
    fingerprint = plan_fingerprint(copies, self._settings)
    done = self._done_meta(*paths, fingerprint)
    if done is not None:
      yield done["stats"]
      return
    errors = collections.Counter(c["error"] for c in copies if c["error"])
    rows: list[dict] = []
    handles: collections.OrderedDict = collections.OrderedDict()
    try:
      with sinks.open_shard(paths[0], self._fmt) as (writer, result):
        for c in copies:
          if c["error"]:
            continue
          location = c["location"]
          data = self._read(handles, location)
          if hashlib.sha256(data).hexdigest() != location["sha256"]:
            errors[FIRST_COPY_CHANGED] += 1
            continue
          row = _sidecar_row(c, {k: location[k] for k in _LOCATION_FIELDS if k != "image_offset"})
          row["image_offset"] = writer.add(row, data)
          rows.append(row)
    finally:
      for handle in handles.values():
        handle.close()
    yield self._finish(index, copies, rows, errors, result, paths, {"fingerprint": fingerprint})


def attach_locations(element: tuple[tuple[str, int], dict[str, list]]) -> Iterator[tuple[int, dict]]:
  """((source, offset), {LOCATIONS: [where the first copy is], REPEATS: [copies]}) -> (shard, copy)."""
  _, joined = element
  locations = list(joined[LOCATIONS])
  # One location per example; a second one only comes from a duplicate selection row.
  location = next((loc for loc in locations if "error" not in loc), locations[0] if locations else None)
  for copy in joined["repeats"]:
    copy = dict(copy, location=None)
    if not copy["error"]:
      if location is None:
        copy["error"] = MISSING_IN_SOURCE  # defensive: every first copy without an error reports one
      elif "error" in location:
        copy["error"] = location["error"]
      else:
        copy["location"] = location
    yield copy.pop("shard"), copy


class WriteCuratedShards(beam.PTransform):
  """{first: (shard, [first copies]), repeats: ((source, offset), repeat)} -> per-shard stats.

  Writes `{prefix}-{index:05d}.tar` (or .tfrecord) and `.parquet` per output shard. Repeat
  shards are written after the first-copy shards they read from: the join on the first
  copies' locations orders the two.
  """

  def __init__(self, output_dir: str, *, prefix: str = "shard", fmt: str = curated.WEBDATASET,
               resize: int | None = None, quality: int = DEFAULT_QUALITY, overwrite: bool = False,
               max_member_bytes: int = readers.DEFAULT_MAX_MEMBER_BYTES):
    super().__init__()
    if fmt not in curated.DATA_EXTENSIONS:
      raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(curated.DATA_EXTENSIONS)}")
    if resize is not None and resize <= 0:
      raise ValueError(f"resize must be a positive side length, got {resize}")
    args = (output_dir, prefix, fmt, resize, quality, overwrite)
    self._first = _WriteFirstCopiesFn(*args, max_member_bytes=max_member_bytes)
    self._repeats = _WriteRepeatsFn(*args)

  def expand(self, planned):
    first = (planned["first"]
             | "WriteFirstCopies" >> beam.ParDo(self._first).with_outputs(LOCATIONS, main="stats"))
    repeat_stats = (
        {LOCATIONS: first[LOCATIONS], "repeats": planned["repeats"]}
        | "JoinFirstCopies" >> shuffle.CoGroupByKey()
        | "AttachLocations" >> beam.FlatMap(attach_locations)
        | "GroupRepeatsByShard" >> shuffle.GroupByKey()
        | "WriteRepeats" >> beam.ParDo(self._repeats))
    return (first["stats"], repeat_stats) | "AllStats" >> beam.Flatten()
