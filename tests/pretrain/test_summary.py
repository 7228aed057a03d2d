"""TensorBoard events written without TensorFlow are read back by TensorFlow's own reader."""

from __future__ import annotations

import pytest

from webpairs.pretrain import summary


def test_crc32c_check_value():
  assert summary.crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue check value
  assert summary.crc32c(b"") == 0


def test_tensorflow_reads_our_events(tmp_path):
  tf = pytest.importorskip("tensorflow")
  writer = summary.EventWriter(str(tmp_path))
  writer.scalars(3, {"loss": 2.5, "lr": 1e-3})
  writer.scalars(7, {"loss": 1.25, "retrieval/img2txt_r1": 0.5})
  writer.close()
  events = list(tf.compat.v1.train.summary_iterator(writer.path))  # verifies both CRCs of every record
  assert events[0].file_version == "brain.Event:2"
  got = [(e.step, v.tag, v.simple_value) for e in events[1:] for v in e.summary.value]
  assert got == [(3, "loss", 2.5), (3, "lr", pytest.approx(1e-3)), (7, "loss", 1.25),
                 (7, "retrieval/img2txt_r1", 0.5)]
