"""Where each kept copy goes: unique webdataset-safe keys, output shards and their names.

A kept example with `repeat = n` becomes n copies. First copies, in (source path, offset)
order, get global indices 0, 1, ...; first copy i lands in output shard i // shard_size,
so such a shard covers a contiguous run of one or a few raw shards. Repeats (copies 1..n-1)
fill the shards after those, each placed by a hash of (source, offset, copy): copies of
one example are spread over the repeat shards instead of sitting side by side.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_REPEAT_TAIL = re.compile(r"_r[0-9]+$")


def safe_key(key: str) -> str:
  """`key` if it is webdataset-safe, else a safe spelling plus a hash of the original.

  Dots would split a webdataset key and slashes make directories, so only
  [A-Za-z0-9_-] is kept as is. A key that needs escaping, or that ends like a repeat
  suffix (`_r<digits>`), becomes `<escaped>_<8 hex digits of its hash>`: escaped keys
  stay distinct from each other, and `copy_key(a, n)` never equals another example's
  base key (hex digits contain no 'r').
  """
  if key and not _UNSAFE.search(key) and not _REPEAT_TAIL.search(key):
    return key
  digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
  return f"{_UNSAFE.sub('_', key)}_{digest}"


def disambiguated(base: str, source: str, offset: int) -> str:
  """The base key of an example whose safe key other kept examples share."""
  digest = hashlib.blake2b(f"{source}\0{offset}".encode("utf-8"), digest_size=6).hexdigest()
  return f"{base}_{digest}"


def assign_bases(base: str, examples: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
  """(source, offset) -> base key for all kept examples whose `safe_key` is `base`.

  A lone example keeps `base`; when several share it, each gets a suffix hashed from its
  (source, offset), which does not depend on the order in which examples arrive.
  """
  ids = sorted(set(examples))
  if len(ids) == 1:
    return {ids[0]: base}
  return {i: disambiguated(base, *i) for i in ids}


def copy_key(base: str, copy: int) -> str:
  """Key of copy `copy` (0-based) of an example: `base`, then `base_r1`, `base_r2`, ..."""
  return base if copy == 0 else f"{base}_r{copy}"


def start_indices(copies_per_source: Iterable[tuple[str, int]]) -> dict[str, int]:
  """Global index of each source's first copy: prefix sums over sources in sorted order."""
  starts, total = {}, 0
  for source, count in sorted(copies_per_source):
    starts[source] = total
    total += count
  return starts


def num_shards(num_copies: int, shard_size: int) -> int:
  return -(-num_copies // shard_size)


def spread_hash(source: str, offset: int, copy: int) -> int:
  """A 64-bit hash of one copy: picks its repeat shard and orders the repeats inside it."""
  digest = hashlib.blake2b(f"{source}\0{offset}\0{copy}".encode("utf-8"), digest_size=8).digest()
  return int.from_bytes(digest, "big")


def repeat_shard(spread: int, first_shards: int, repeat_shards: int) -> int:
  """Output shard of a repeat: one of the `repeat_shards` shards after the first copies' ones.

  Shards fill to about shard_size (a binomial spread around it), not exactly.
  """
  return first_shards + spread % repeat_shards


def shard_counts(first_copies: int, repeats: int, shard_size: int) -> tuple[int, int]:
  """(shards of first copies, shards of repeats)."""
  return num_shards(first_copies, shard_size), num_shards(repeats, shard_size)

