"""Builds small webdataset tars in memory for reader and pipeline tests."""

from __future__ import annotations

import io
import tarfile


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in members:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      info.mtime = 0
      tar.addfile(info, io.BytesIO(data))
  return buf.getvalue()


def member_offsets(data: bytes) -> dict[str, tuple[int, int]]:
  """name -> (header offset, data offset) in a tar made by `tar_bytes`."""
  with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
    return {m.name: (m.offset, m.offset_data) for m in tar.getmembers()}
