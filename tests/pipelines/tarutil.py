"""Builds small webdataset tars in memory for reader and pipeline tests."""

from __future__ import annotations

import gzip
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


def write_gzip_bomb(path, zeros: int, tail: list[tuple[str, bytes]] = ()) -> None:
  """A .tar.gz whose first member '000000.jpg' is `zeros` zero bytes (about 1000:1), then `tail`."""
  with gzip.open(path, "wb", compresslevel=9) as gz:
    info = tarfile.TarInfo("000000.jpg")
    info.size, info.mtime = zeros, 0
    gz.write(info.tobuf(format=tarfile.USTAR_FORMAT))
    chunk = bytes(1 << 20)
    for start in range(0, zeros, len(chunk)):
      gz.write(chunk[:zeros - start])
    gz.write(bytes(-zeros % 512))
    gz.write(tar_bytes(list(tail)))
