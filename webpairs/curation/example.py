"""The raw example a shard reader yields: one webdataset key with its members' bytes."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class RawExample:
  """One input example as read from a raw shard, before any decoding.

  `members` maps a lower-case extension without the dot ('jpg', 'txt', 'json', ...) to
  the member's bytes. Readers never decode: a member that cannot be read shows up as
  `read_error` (a reason from `reasons.py`) so the example still gets its row.
  """

  key: str
  source: str  # shard path (as given to Beam's filesystems)
  offset: int  # position of the example within its shard, 0-based
  members: dict[str, bytes] = dataclasses.field(default_factory=dict)
  read_error: str | None = None
  read_detail: str = ""
