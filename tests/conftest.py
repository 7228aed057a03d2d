"""Shared fixtures: where the real data lives, and small helpers every test area uses."""

from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir() -> pathlib.Path:
  """`../shared/data` beside the checkout (override with WEBPAIRS_SHARED_DATA)."""
  return pathlib.Path(os.environ.get("WEBPAIRS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  path = shared_data_dir()
  if not path.is_dir():
    pytest.skip(f"real data folder {path} is absent (set WEBPAIRS_SHARED_DATA to use it)")
  return path
