"""Training faults: damaged checkpoints fall back to the previous one, NaN at a known step, kill -9 and rerun."""

from __future__ import annotations

import glob
import os
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.pretrain.conftest import TINY, saved_state, tiny_config
from webpairs.pretrain import checkpoint, trainer


def _state(shift: float) -> dict:
  return {"params": {"w": jnp.arange(1000, dtype=jnp.float32) + shift, "b": jnp.full((3, 4), shift, jnp.bfloat16)},
          "step": jnp.int32(int(shift)), "rng": jax.random.key(0), "ok": jnp.array([True, False])}


def _saved(tmp_path, steps=(1, 2)) -> str:
  directory = str(tmp_path / "ckpt")
  ckpt = checkpoint.Checkpointer(directory, every=1, keep=5)
  for step in steps:
    ckpt.save(step, _state(step), {"position": step})
  ckpt.close()
  return directory


def _largest_array_file(directory: str, step: int) -> str:
  return max(glob.glob(f"{directory}/{step}/state/ocdbt.process_0/d/*"), key=os.path.getsize)


def _truncate(path: str) -> None:
  data = open(path, "rb").read()
  open(path, "wb").write(data[:len(data) // 2])


def _flip(path: str) -> None:
  data = bytearray(open(path, "rb").read())
  middle = len(data) // 2
  data[middle:middle + 4] = bytes(b ^ 0xFF for b in data[middle:middle + 4])
  open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("damage, error", [(_truncate, "Exception"), (_flip, "CorruptCheckpointError")])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, damage, error):
  directory = _saved(tmp_path)
  damage(_largest_array_file(directory, 2))
  ckpt = checkpoint.Checkpointer(directory, every=1, keep=5)
  said = []
  step, state, data = ckpt.restore_latest(report=said.append)
  assert step == 1 and data == {"position": 1}
  np.testing.assert_array_equal(state["params"]["w"], np.arange(1000, dtype=np.float32) + 1)
  assert len(said) == 1 and said[0].startswith(f"[pretrain] checkpoint step 2 in {directory} is unreadable ({error}")
  assert said[0].endswith(f"moved to {directory}/2.corrupt; falling back to step 1")
  assert ckpt.all_steps() == [1] and os.path.isdir(f"{directory}/2.corrupt")
  ckpt.save(2, _state(2), {"position": 2})  # the run saves that step again
  ckpt.wait()
  assert ckpt.restore_latest()[0] == 2
  ckpt.close()


def test_flipped_bytes_restore_silently_without_checksums(tmp_path):
  # Why the checksums exist: orbax hands back the damaged values as if nothing happened.
  directory = _saved(tmp_path, steps=(1,))
  _flip(_largest_array_file(directory, 1))
  ckpt = checkpoint.Checkpointer(directory, every=1, keep=5)
  with pytest.raises(checkpoint.CorruptCheckpointError, match=r"^1 of 5 arrays differ from their saved checksums"):
    ckpt.restore(1)
  ckpt.close()


def test_no_restorable_checkpoint_raises_and_renames_nothing(tmp_path):
  directory = _saved(tmp_path, steps=(1,))
  _truncate(_largest_array_file(directory, 1))
  ckpt = checkpoint.Checkpointer(directory, every=1, keep=5)
  with pytest.raises(RuntimeError, match=r"no checkpoint in .* restores \(steps 1\)"):
    ckpt.restore_latest(report=pytest.fail)
  assert ckpt.all_steps() == [1]
  ckpt.close()


def test_checksums_see_any_changed_element_on_any_dtype():
  base = checkpoint.state_checksums(_state(3.0))
  assert base.dtype == jnp.uint32 and base.shape == (5,)
  np.testing.assert_array_equal(base, checkpoint.state_checksums(_state(3.0)))
  moved = _state(3.0)
  moved["params"]["w"] = moved["params"]["w"].at[999].set(0.0)
  changed = np.asarray(checkpoint.state_checksums(moved)) != np.asarray(base)
  assert changed.tolist() == [False, False, True, False, False]  # leaves: ok, params.b, params.w, rng, step
  swapped = _state(3.0)
  swapped["params"]["w"] = swapped["params"]["w"][::-1]
  assert not np.array_equal(checkpoint.state_checksums(swapped), base)


def test_nan_at_a_known_step_stops_there_and_keeps_the_last_good_checkpoint(curated, tokenizer_dir, tmp_path,
                                                                            monkeypatch):
  config = tiny_config(curated, tokenizer_dir, ckpt_every=2)
  nan_step = 7
  original = trainer.Trainer.step

  def poisoned(self, state, batch):
    # A NaN in the temperature as step 7 starts: its loss and gradients are NaN.
    if int(state["step"]) == nan_step - 1:
      state = {**state, "params": {**state["params"], "t_prime": state["params"]["t_prime"] * jnp.nan}}
    return original(self, state, batch)

  monkeypatch.setattr(trainer.Trainer, "step", poisoned)
  with pytest.raises(trainer.NonFiniteError, match=rf"^step {nan_step}: loss or gradients are not finite") as info:
    trainer.train(config, str(tmp_path))
  assert f"Last good checkpoint: step 6 in {tmp_path / checkpoint.CHECKPOINT_DIR}" in str(info.value)
  saved = sorted(int(p.name) for p in (tmp_path / checkpoint.CHECKPOINT_DIR).iterdir() if p.name.isdigit())
  assert saved == [2, 4, 6]
  state, _ = saved_state(tmp_path, 6)
  assert int(state["step"]) == 6
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["params"]))


def _cli_argv(curated, tokenizer_dir, workdir, **overrides) -> list[str]:
  values = {**TINY, "log_every": 2, **overrides}
  return [sys.executable, "-m", "webpairs.cli", "pretrain", "--config", "siglip:tiny", "--workdir", str(workdir),
          f"--config.input.shards={curated / 'train'}", f"--config.input.tokenizer={tokenizer_dir}",
          *(f"--config.{k}={v}" for k, v in values.items())]


def _kill_at(argv: list[str], env: dict, at_step: int, extra_s: float) -> int:
  """Starts a run and kill -9s it `extra_s` seconds after it reports step `at_step` (mid-step or mid-save)."""
  proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
  try:
    for line in proc.stdout:
      if f"step {at_step}/" in line or "resumed from step" in line and int(line.split()[4]) >= at_step:
        time.sleep(extra_s)
        os.kill(proc.pid, signal.SIGKILL)
        break
  finally:
    proc.stdout.close()
    proc.wait(timeout=120)
  return proc.returncode


# Each plan starts 2-3 fresh processes (about 70-100 s on 2 cores): WEBPAIRS_SLOW=1 only.
SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")


@SLOW
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kill_9_at_random_moments_then_rerun_gives_the_uninterrupted_params(curated, tokenizer_dir, tmp_path,
                                                                            compilation_cache, seed):
  # Saves every step, so a kill lands inside a step or inside an orbax write alike.
  total = 24
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  trainer.train(tiny_config(curated, tokenizer_dir, ckpt_every=1, total_steps=total), str(straight))
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(compilation_cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
             PYTHONPATH=os.getcwd())
  argv = _cli_argv(curated, tokenizer_dir, killed, ckpt_every=1, total_steps=total)
  rng = random.Random(seed)
  kills = sorted(rng.sample(range(2, total - 2, 2), 1 + (seed > 0)))
  for at_step in kills:
    assert _kill_at(argv, env, at_step, rng.uniform(0.0, 0.3)) == -signal.SIGKILL
  done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
  assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
  assert "resumed from step" in done.stdout

  a, data_a = saved_state(straight, total)
  b, data_b = saved_state(killed, total)
  assert data_a == data_b
  flat_a, tree_a = jax.tree.flatten(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b, strict=True):  # params, Adam moments, RNG: bit for bit
    np.testing.assert_array_equal(x, y)


def test_run_with_a_corrupted_newest_checkpoint_resumes_from_the_previous_one(curated, tokenizer_dir, tmp_path,
                                                                              capsys):
  config = tiny_config(curated, tokenizer_dir, ckpt_every=2)  # TINY's schedule: the compiled step is shared
  trainer.train(config, str(tmp_path), stop_at_step=4)
  good, _ = saved_state(tmp_path, 4)
  directory = str(tmp_path / checkpoint.CHECKPOINT_DIR)
  _flip(_largest_array_file(directory, 4))
  capsys.readouterr()
  final = trainer.train(config, str(tmp_path), stop_at_step=4)
  out = capsys.readouterr().out
  assert f"[pretrain] checkpoint step 4 in {directory} is unreadable (CorruptCheckpointError: " in out
  assert f"moved to {directory}/4.corrupt; falling back to step 2" in out
  assert "resumed from step 2" in out and final["step"] == 4
  again, _ = saved_state(tmp_path, 4)  # steps 3 and 4 redone: the same state as before the damage
  for x, y in zip(jax.tree.leaves(good), jax.tree.leaves(again), strict=True):
    np.testing.assert_array_equal(x, y)
