"""TensorBoard scalar event files written directly (TFRecord framing of Event protos): no TensorFlow import in the trainer."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Mapping

# CRC-32C (Castagnoli), reflected polynomial, as TFRecord frames each length and payload.
_POLY = 0x82F63B78
_TABLE = []
for _n in range(256):
  _c = _n
  for _ in range(8):
    _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
  _TABLE.append(_c)


def crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
  n &= (1 << 64) - 1  # int64 fields are two's complement varints
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
  return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None,
           scalars: Mapping[str, float] | None = None) -> bytes:
  # tensorflow/core/util/event.proto: wall_time=1 (double), step=2 (int64),
  # file_version=3 (string), summary=5 (Summary{repeated Value value=1}),
  # Value{tag=1 (string), simple_value=2 (float)}.
  out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
  if file_version is not None:
    out += _bytes_field(3, file_version.encode())
  if scalars:
    values = b"".join(_bytes_field(1, _bytes_field(1, tag.encode()) + b"\x15" + struct.pack("<f", float(v)))
                      for tag, v in scalars.items())
    out += _bytes_field(5, values)
  return out


def _record(data: bytes) -> bytes:
  length = struct.pack("<Q", len(data))
  return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack("<I", _masked_crc(data))


class EventWriter:
  """Appends scalar summaries to `logdir/events.out.tfevents.<time>.<host>`; TensorBoard reads them live."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    self.path = os.path.join(logdir, f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.webpairs")
    self._f = open(self.path, "ab")
    self._f.write(_record(_event(time.time(), 0, file_version="brain.Event:2")))
    self._f.flush()

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    self._f.write(_record(_event(time.time(), step, scalars=values)))

  def flush(self) -> None:
    self._f.flush()

  def close(self) -> None:
    if not self._f.closed:
      self._f.close()
