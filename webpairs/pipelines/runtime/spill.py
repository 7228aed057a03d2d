"""Disk spill for the local FnApiRunner's in-driver shuffle: a bound on the groups held in memory.

FnApiRunner holds every GroupByKey's input in its driver until the stage that reads it
runs. A run's SpillBudget counts the encoded bytes that its grouping buffers hold; past
the bound, the largest buffers write their groups to disk (SpillFiles), as records of
(encoded key, encoded group) in FANOUT files chosen by a hash of the key. A buffer that
spilled is read one hash partition at a time: a key's records are merged into one group
(its values in the order they arrived), and a partition larger than its share of the bound
is first split again by other bits of the hash. So a GroupByKey of any size holds about a
bound's worth in the driver, and every value still reaches its one group.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator

# The bound in MB on the encoded groups all grouping buffers of a local run hold in memory
# (0: never spill), and the folder for the spill files (default: the system temp folder).
MEMORY_ENV = "WEBPAIRS_SHUFFLE_MEMORY_MB"
DIR_ENV = "WEBPAIRS_SHUFFLE_SPILL_DIR"
DEFAULT_MEMORY_MB = 64  # held decoded, so the driver's memory is a few times this (256 before issue 17's memory row)

FANOUT = 64  # files a spill writes (6 bits of the key hash)
MAX_SPLITS = 2  # times a partition too large to read may be split again (a key's group is never split)
_HEADER = struct.Struct("<II")  # key length, group length
_FILE_BUFFER = 256 << 10


def memory_bound() -> int:
  """The spill bound in bytes from MEMORY_ENV (0: no bound)."""
  return max(0, int(float(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY_MB)) * (1 << 20)))


def _part(key: bytes, depth: int) -> int:
  # blake2b, not crc32: crc32 of same-length keys with another seed only permutes the low bits
  h = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
  return (h >> (6 * depth)) % FANOUT


def _records(path: str) -> Iterator[tuple[bytes, bytes]]:
  with open(path, "rb", buffering=_FILE_BUFFER) as f:
    while header := f.read(_HEADER.size):
      key_len, group_len = _HEADER.unpack(header)
      yield f.read(key_len), f.read(group_len)


class SpillFiles:
  """One grouping buffer's spilled groups: FANOUT lists of files, each file a run of records."""

  def __init__(self, directory: str):
    self.directory = tempfile.mkdtemp(dir=directory, prefix="gbk-")
    self.parts: list[list[str]] = [[] for _ in range(FANOUT)]
    self._names = itertools.count()  # next() is atomic under the GIL: shares split from threads

  def write(self, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Appends one run of (encoded key, encoded group) records, partitioned by key hash."""
    for p, path in self._write(records, 0).items():
      self.parts[p].append(path)

  def _write(self, records: Iterable[tuple[bytes, bytes]], depth: int) -> dict[int, str]:
    files, paths = {}, {}
    try:
      for key, group in records:
        p = _part(key, depth)
        f = files.get(p)
        if f is None:
          paths[p] = os.path.join(self.directory, f"{next(self._names)}")
          f = files[p] = open(paths[p], "wb", buffering=_FILE_BUFFER)  # pylint: disable=consider-using-with
        f.write(_HEADER.pack(len(key), len(group)))
        f.write(key)
        f.write(group)
    finally:
      for f in files.values():
        f.close()
    return paths

  def groups(self, paths: list[str], merge: Callable[[bytes, list[bytes]], bytes], split_bytes: int,
             depth: int = 0) -> Iterator[bytes]:
    """The encoded groups of one partition's files, each key once; the files are removed as read."""
    if depth < MAX_SPLITS and sum(os.path.getsize(p) for p in paths) > split_bytes:
      subs = self._write(itertools.chain.from_iterable(_records(p) for p in paths), depth + 1)
      for p in paths:
        os.remove(p)
      for sub in subs.values():
        yield from self.groups([sub], merge, split_bytes, depth + 1)
      return
    table: dict[bytes, list[bytes]] = {}
    for path in paths:
      for key, group in _records(path):
        table.setdefault(key, []).append(group)
      os.remove(path)
    for key in list(table):
      groups = table.pop(key)
      yield groups[0] if len(groups) == 1 else merge(key, groups)


class ReadOnce:
  """A grouping buffer's share for one worker: iterating yields its encoded chunks, once only.

  FnApiRunner's fan-out copy() of a buffer returns the buffer itself, so a second reader
  would find the groups gone: it raises rather than lose rows.
  """

  _read = False

  def __iter__(self) -> Iterator[bytes]:
    if self._read:
      raise RuntimeError("a GroupByKey's grouped output was read twice on the local runner")
    self._read = True
    return self._chunks()

  def _chunks(self) -> Iterator[bytes]:
    raise NotImplementedError


class SpilledShare(ReadOnce):
  """One worker's share of a spilled grouping buffer: hash partitions ix, ix + n, ..., in chunks.

  Iterating yields chunks of whole encoded groups of about chunk_bytes. It can be read once.
  """

  def __init__(self, files: SpillFiles, ix: int, n: int, merge: Callable[[bytes, list[bytes]], bytes],
               split_bytes: int, chunk_bytes: int):
    self._files, self._parts = files, list(range(ix, FANOUT, n))
    self._merge, self._split_bytes, self._chunk_bytes = merge, split_bytes, chunk_bytes

  def _chunks(self) -> Iterator[bytes]:
    chunk: list[bytes] = []
    size = 0
    for p in self._parts:
      paths, self._files.parts[p] = self._files.parts[p], []
      if not paths:
        continue
      for group in self._files.groups(paths, self._merge, self._split_bytes):
        chunk.append(group)
        size += len(group)
        if size >= self._chunk_bytes:
          yield b"".join(chunk)
          chunk, size = [], 0
    if chunk:
      yield b"".join(chunk)


class SpillBudget:
  """A local run's bound on the bytes its grouping buffers hold; past it the largest spill to disk.

  A buffer registers when made, reports the encoded bytes it appends (add), and leaves
  when it is read (forget). A buffer's spill() writes its groups and returns the bytes freed.
  """

  def __init__(self, bound: int, directory: str):
    self.bound = bound
    self.directory = directory
    self.held = 0
    self._buffers: dict[int, object] = {}
    # held by a buffer while it adds to its table or spills (ChunkedGroupingBuffer.append)
    self.lock = threading.RLock()

  def register(self, buffer) -> None:
    with self.lock:
      self._buffers[id(buffer)] = buffer

  def forget(self, buffer) -> None:
    with self.lock:
      if self._buffers.pop(id(buffer), None) is not None:
        self.held -= buffer.held

  def add(self, buffer, n: int) -> None:
    with self.lock:
      buffer.held += n
      self.held += n
      if self.held <= self.bound:
        return
      # down to half the bound, so that a run spills in large writes, not one per append
      for b in sorted(self._buffers.values(), key=lambda b: -b.held):
        if self.held <= self.bound // 2 or not b.held:
          break
        self.held -= b.spill()
