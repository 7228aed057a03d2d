"""Shared fixtures: small curated shards of drawn scenes, a tokenizer trained on them, a tiny config."""

from __future__ import annotations

import pathlib

import pytest

from tests.pretrain.curated_images import write_curated_images
from webpairs.configs import loader
from webpairs.tokenizers import train_tokenizer

TRAIN_EXAMPLES = 192
HELD_OUT_EXAMPLES = 64


@pytest.fixture(scope="session")
def curated(tmp_path_factory) -> pathlib.Path:
  """Training shards (6 x 32 examples, images at most 96 px) and a held-out folder of other scenes."""
  root = tmp_path_factory.mktemp("curated")
  write_curated_images(root / "train", TRAIN_EXAMPLES, seed=0, shard_size=32)
  write_curated_images(root / "held_out", HELD_OUT_EXAMPLES, seed=1, shard_size=32)
  return root


@pytest.fixture(scope="session")
def tokenizer_dir(curated, tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("tokenizer")
  train_tokenizer(str(curated / "train"), out, 600, num_threads=2)
  return out


LOC_BINS = 32  # locca:tiny's box bins


@pytest.fixture(scope="session")
def loc_tokenizer_dir(curated, tmp_path_factory) -> pathlib.Path:
  """As tokenizer_dir, plus the <loc0000>..<loc0031> pieces LocCa writes boxes with at locca:tiny's 32 bins."""
  out = tmp_path_factory.mktemp("loc_tokenizer")
  train_tokenizer(str(curated / "train"), out, 600 + LOC_BINS, loc_tokens=LOC_BINS, num_threads=2)
  return out


# Tests share these so that their runs compile one train step (the compilation cache
# below then serves every later run); in-process decoding, as workers take seconds to start.
TINY = {"input.batch_size": 16, "input.num_workers": 0, "total_steps": 40, "optax.warmup_steps": 5}


def saved_state(workdir: pathlib.Path, step: int):
  """(train state on the host, data-iterator state) of the checkpoint a run saved at `step` in workdir."""
  import jax  # pylint: disable=g-import-not-at-top

  from webpairs.pretrain import checkpoint  # pylint: disable=g-import-not-at-top

  ckpt = checkpoint.Checkpointer(str(workdir / checkpoint.CHECKPOINT_DIR), every=1, keep=10)
  try:
    state, data = ckpt.restore(step)
  finally:
    ckpt.close()
  return jax.device_get(state), data


def tiny_config(curated: pathlib.Path, tokenizer_dir: pathlib.Path, **overrides):
  """The `tiny` preset on the fixture shards."""
  config = loader.load_config(loader.PRETRAIN, "siglip:tiny")
  config.input.shards = str(curated / "train")
  config.input.tokenizer = str(tokenizer_dir)
  config.log_every = 2
  loader.apply_overrides(config, [f"{k}={v}" for k, v in {**TINY, **overrides}.items()])
  return config


@pytest.fixture(scope="package", autouse=True)
def compilation_cache(tmp_path_factory):
  """Runs in these tests compile the same programs again and again (a resumed run, a CLI run): cache them on disk.

  Package scope: the setting is undone after the last test of tests/pretrain. JAX decides
  once whether it uses a cache, so the decision is reset on the way in and out.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jax.experimental.compilation_cache import compilation_cache  # pylint: disable=g-import-not-at-top

  folder = tmp_path_factory.mktemp("xla_cache")
  keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
          "jax_persistent_cache_min_entry_size_bytes")
  old = {k: getattr(jax.config, k) for k in keys}
  jax.config.update("jax_compilation_cache_dir", str(folder))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  compilation_cache.reset_cache()
  yield folder
  for k, v in old.items():
    jax.config.update(k, v)
  compilation_cache.reset_cache()
