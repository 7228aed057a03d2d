"""Trainer: exact resume, the NaN guard, and what a run writes (progress, metrics.jsonl, TensorBoard, checkpoints)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from tests.pretrain.conftest import TINY, saved_state, tiny_config
from webpairs import cli
from webpairs.eval import hooks as eval_hooks
from webpairs.pretrain import checkpoint, trainer
from webpairs.pretrain.inference.protocol import EmbeddingModel


def _losses(workdir):
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_resume_gives_the_parameters_of_an_unbroken_run(curated, tokenizer_dir, tmp_path):
  config = tiny_config(curated, tokenizer_dir, ckpt_every=3)
  config.input.augment = "inception_crop"  # random crops too must follow the data position
  straight, split = tmp_path / "straight", tmp_path / "split"
  trainer.train(config, str(straight), stop_at_step=6)
  first = trainer.train(config, str(split), stop_at_step=3)
  assert first["step"] == 3
  assert sorted(p.name for p in (split / checkpoint.CHECKPOINT_DIR).iterdir() if p.name.isdigit()) == ["3"]
  trainer.train(config, str(split), stop_at_step=6)

  a, data_a = saved_state(straight, 6)
  b, data_b = saved_state(split, 6)
  assert int(a["step"]) == int(b["step"]) == 6
  assert data_a == data_b
  flat_a, tree_a = jax.tree.flatten(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b, strict=True):  # params, both Adam moments, the RNG key: bit for bit
    np.testing.assert_array_equal(x, y)
  # The step-3 state of the straight run differs: resuming did not just reload the end.
  mid, _ = saved_state(straight, 3)
  assert not np.array_equal(mid["params"]["t_prime"], a["params"]["t_prime"])
  losses_a, losses_b = _losses(straight), _losses(split)
  assert set(losses_a) == {2, 4, 6} and set(losses_b) == {2, 3, 4, 6}  # the split run also logs where it stopped
  assert all(losses_b[s] == loss for s, loss in losses_a.items())


def test_non_finite_step_stops_the_run_and_is_never_saved(curated, tokenizer_dir, tmp_path):
  # A learning rate of 1e20 without clipping: step 1 is finite, its update is not.
  config = tiny_config(curated, tokenizer_dir, ckpt_every=1, **{"optax.lr": 1e20, "optax.grad_clip": 0.0,
                                                                 "optax.warmup_steps": 0})
  with pytest.raises(trainer.NonFiniteError, match=r"^step (\d+): loss or gradients are not finite") as info:
    trainer.train(config, str(tmp_path))
  bad = int(info.value.args[0].split(":")[0].split()[1])
  assert bad >= 2
  saved = sorted(int(p.name) for p in (tmp_path / checkpoint.CHECKPOINT_DIR).iterdir() if p.name.isdigit())
  assert saved == list(range(1, bad))
  state, _ = saved_state(tmp_path, saved[-1])
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["params"]))
  assert f"Last good checkpoint: step {bad - 1}" in str(info.value)


def test_cli_run_learns_and_writes_progress_metrics_tensorboard_and_checkpoints(curated, tokenizer_dir, tmp_path,
                                                                                capsys):
  workdir = tmp_path / "run"
  argv = ["pretrain", "--config", "siglip:tiny", "--workdir", str(workdir),
          f"--config.input.shards={curated / 'train'}", "--config.input.tokenizer", str(tokenizer_dir),
          *(f"--config.{k}={v}" for k, v in TINY.items()),
          "--config.log_every=5", "--config.ckpt_every=10", "--config.keep_ckpts=2",
          f"--config.evals.retrieval.shards={curated / 'held_out'}"]
  assert cli.main(argv) == 0
  out = capsys.readouterr().out
  progress = [line for line in out.splitlines() if line.startswith("[pretrain] [")]
  assert len(progress) == 8 and "step 40/40 (100%)" in progress[-1]
  assert all("ETA" in line and "ex/s" in line for line in progress[1:])
  final = json.loads(out.strip().splitlines()[-1])
  assert final["step"] == 40 and final["retrieval/examples"] == 64

  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  train_rows = [r for r in rows if "loss" in r]
  assert {"loss", "lr", "t", "b", "grad_norm", "examples_per_s", "step_time_s", "gflops_per_step"} <= set(train_rows[-1])
  assert train_rows[-1]["gflops_per_step"] > 0
  # The analytic count (the MFU numerator) and how much of the step waited for input, also on the progress line.
  assert train_rows[-1]["model_flops_per_step"] > 0 and 0.0 <= train_rows[-1]["input_wait_frac"] <= 1.0
  assert all("FLOP/step" in line and "input wait" in line for line in progress[1:])
  # Learning: the sigmoid loss falls well below its starting value within 40 steps.
  assert train_rows[-1]["loss"] < 0.7 * train_rows[0]["loss"], [r["loss"] for r in train_rows]
  events = list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  assert len(events) == 1 and events[0].stat().st_size > 500
  steps = sorted(p.name for p in (workdir / checkpoint.CHECKPOINT_DIR).iterdir() if p.name.isdigit())
  assert steps == ["30", "40"]  # every 10, newest 2 kept
  assert json.loads((workdir / checkpoint.CONFIG_FILE).read_text())["total_steps"] == 40

  # Running again finds the finished run and only evaluates.
  assert cli.main(argv) == 0
  assert "resumed from step 40" in capsys.readouterr().out


def test_cli_reports_config_errors(capsys, tmp_path):
  assert cli.main(["pretrain", "--config", "siglip:tiny", "--workdir", str(tmp_path), "--config.nope=1"]) == 2
  assert "unknown config key 'nope'" in capsys.readouterr().err
  assert cli.main(["pretrain", "--config", "siglip:tiny", "--workdir", str(tmp_path)]) == 2
  assert "config.input.shards is empty" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(["pretrain", "--config", "siglip:tiny", "--workdir", str(tmp_path), "--runner=DataflowRunner"])


class _Recorder:
  """A hook that notes when it ran and checks it was given an inference model."""

  def __init__(self, every: int):
    self.every, self.calls = every, []

  def due(self, step: int, last: bool) -> bool:
    return last or step % self.every == 0

  def __call__(self, step, last, model, log):
    assert isinstance(model, EmbeddingModel)
    self.calls.append((step, last))
    log(f"recorded step {step}")
    return {"recorded/step": float(step)}


def test_hooks_and_registry_evals_run_on_schedule_and_at_the_end(curated, tokenizer_dir, tmp_path):
  from webpairs.configs import evals  # pylint: disable=import-outside-toplevel
  from webpairs.demo import synthetic  # pylint: disable=import-outside-toplevel

  synthetic.write_eval_set(tmp_path / "evaldata" / "synthetic", 48, seed=0)
  config = tiny_config(curated, tokenizer_dir, total_steps=6, ckpt_every=100)
  config.eval_data_root = str(tmp_path / "evaldata")
  entry = evals.resolve(["synthetic_zeroshot"])["synthetic_zeroshot"]
  config.evals.synthetic_zeroshot = dict(entry, every_steps=4)
  workdir = tmp_path / "run"
  recorder = _Recorder(every=5)
  final = trainer.train(config, str(workdir), hooks=[*eval_hooks.from_config(config, workdir=str(workdir)), recorder])

  # Each hook after the steps it asks for and at the end, on the live model, its metrics written and returned.
  assert recorder.calls == [(5, False), (6, True)] and final["recorded/step"] == 6
  assert sorted(p.name for p in (workdir / "eval").glob("*.json")) == ["4.json", "6.json"]
  record = json.loads((workdir / "eval" / "6.json").read_text())
  accuracy = record["metrics"]["synthetic_zeroshot/accuracy"]
  assert 0.0 <= accuracy <= 1.0 and final["synthetic_zeroshot/accuracy"] == accuracy
  assert (workdir / "eval" / "report.html").exists()
  logged = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert {r["step"] for r in logged if "synthetic_zeroshot/accuracy" in r} == {4, 6}
  assert [r["step"] for r in logged if "recorded/step" in r] == [5, 6]
