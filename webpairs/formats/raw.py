"""The raw example a shard reader yields: one webdataset key with its members' bytes."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from webpairs.formats.images import IMAGE_EXTENSIONS

# webdataset's key rule: the key is the path up to the first dot of the file name
# (empty for a name like ".jpg": still a key, so that its example gets a row).
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]*)[.]([^/]*)$")


def split_key(member_name: str) -> tuple[str, str] | None:
  """('dir/000001', 'jpg') for 'dir/000001.JPG'; None for names without an extension."""
  match = _KEY_EXT.match(member_name)
  if not match:
    return None
  return match.group(1), match.group(2).lower()


def image_extension(members: Mapping[str, object]) -> str | None:
  """The example's image member: the first of IMAGE_EXTENSIONS present (every job picks the same one)."""
  return next((ext for ext in IMAGE_EXTENSIONS if ext in members), None)


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
  skipped: list[str] = dataclasses.field(default_factory=list)  # member names not read (links, no extension)
