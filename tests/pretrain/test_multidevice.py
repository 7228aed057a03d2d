"""Multi-device behaviour on 4 fake CPU devices (each check in its own interpreter: XLA_FLAGS must precede the backend)."""

from __future__ import annotations

import os

import pytest

from tests.pretrain.multidevice import run_with_devices

SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")


def test_ring_loss_equals_dense_on_1_2_and_4_devices():
  out = run_with_devices(4, "from tests.pretrain import multidevice_cases as c; c.ring_matches_dense()")
  assert "ring ok" in out


def test_ring_loss_value_at_init_over_the_global_batch():
  out = run_with_devices(4, "from tests.pretrain import multidevice_cases as c; c.ring_init_value()")
  assert "init ok" in out


def test_ring_loss_with_fsdp_on_4_devices_trains_like_one_device():
  out = run_with_devices(4, "from tests.pretrain import multidevice_cases as c; c.sharded_training_matches_one_device()",
                         timeout=400)
  assert "sharded ok" in out


def test_silc_step_on_4_devices_with_fsdp_equals_one_device():
  out = run_with_devices(4, "from tests.pretrain import multidevice_cases as c; c.silc_sharded_matches_one_device()",
                         timeout=400)
  assert "silc sharded ok" in out


@pytest.mark.slow
@SLOW
def test_siglip2_step_on_4_devices_with_fsdp_equals_one_device_across_the_switch():
  out = run_with_devices(4, "from tests.pretrain import multidevice_cases as c; c.siglip2_sharded_matches_one_device()",
                         timeout=600)
  assert "siglip2 sharded ok" in out
