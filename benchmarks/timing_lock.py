"""A file lock for benchmark timing: processes compile side by side but time one at a time (--timing-lock)."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
  """Holds an exclusive lock on `path` (none if empty): timing never overlaps another process's."""
  if not path:
    yield
    return
  with open(path, "a", encoding="utf-8") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
