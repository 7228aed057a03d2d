"""Shuffle volume as Beam counters: GroupByKey / CoGroupByKey that count the bytes they move.

Each element is encoded with the coder a runner uses for untyped (key, value) pairs
(FastPrimitivesCoder: numpy batches pickle to their buffers), so a counter is the bytes
a distributed runner would write to its shuffle, before compression. Counters live in
NAMESPACE, named by the step (or a shared name, e.g. all rounds of one loop).
"""

from __future__ import annotations

from collections.abc import Mapping

import apache_beam as beam
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

NAMESPACE = "webpairs.shuffle"


class _CountBytes(beam.DoFn):
  """Passes elements on, adding their encoded size to the counter `name`."""

  def __init__(self, name: str):
    self._name = name

  def setup(self):
    self._coder = coders.FastPrimitivesCoder()
    self._bytes = Metrics.counter(NAMESPACE, self._name)

  def process(self, element):
    self._bytes.inc(len(self._coder.encode(element)))
    yield element


class GroupByKey(beam.PTransform):
  """beam.GroupByKey, counting the bytes it shuffles under `name` (default: the step's label)."""

  def __init__(self, name: str | None = None):
    super().__init__()
    self._name = name

  def expand(self, pcoll):
    return (pcoll | "CountShuffleBytes" >> beam.ParDo(_CountBytes(self._name or self.label))
            | "GroupByKey" >> beam.GroupByKey())


class CoGroupByKey(beam.PTransform):
  """beam.CoGroupByKey over a dict of PCollections, counting the bytes of all its inputs."""

  def __init__(self, name: str | None = None):
    super().__init__()
    self._name = name

  def expand(self, pcolls: Mapping):
    name = self._name or self.label
    counted = {tag: pc | f"CountShuffleBytes_{tag}" >> beam.ParDo(_CountBytes(name)) for tag, pc in pcolls.items()}
    return counted | "CoGroupByKey" >> beam.CoGroupByKey()


def shuffle_bytes(result) -> dict[str, int] | None:
  """{counter name: bytes} of a finished pipeline (committed where the runner has them).

  None on runners without metrics (Beam's DaskRunner).
  """
  try:
    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
  except NotImplementedError:
    return None
  out: dict[str, int] = {}
  for counter in found:
    try:
      value = counter.committed
    except Exception:  # pylint: disable=broad-except  # runners without committed metrics raise
      value = None
    value = counter.attempted if value is None else value
    out[counter.key.metric.name] = out.get(counter.key.metric.name, 0) + int(value)
  return dict(sorted(out.items()))


def per_row(counts: dict[str, int] | None, rows: int) -> dict | None:
  """The summary's shuffle section: bytes per step and per input row (None without counters)."""
  if counts is None:
    return None
  total = sum(counts.values())
  return {"bytes": counts, "total_bytes": total, "bytes_per_row": round(total / max(1, rows), 2),
          "per_row": {k: round(v / max(1, rows), 2) for k, v in counts.items()}}
