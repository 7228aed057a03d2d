"""Multi-process pretraining on localhost: 2 processes x 2 CPU devices (gloo) train as 1 process x 4 devices; kills and restarts."""

from __future__ import annotations

import json
import os
import pathlib
import time

import hypothesis
import jax
import numpy as np
import pytest
from hypothesis import strategies as st

from tests.pretrain import multiprocess as mp
from tests.pretrain.conftest import tiny_config
from webpairs.pretrain import checkpoint, distributed, trainer
from webpairs.pretrain.input import streams
from webpairs.tokenizers import Tokenizer

SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")
# The ring loss and FSDP (a low threshold, so the tiny model's kernels are split over the 4 devices).
RING_FSDP = {"input.batch_size": 16, "input.num_workers": 0, "optax.warmup_steps": 5, "sharding": "fsdp",
             "fsdp_min_size": 256, "log_every": 1}


def _args(curated: pathlib.Path, tokenizer_dir: pathlib.Path, workdir: pathlib.Path, config: str = "siglip:tiny,loss=ring",
          **overrides) -> list[str]:
  over = {"input.shards": curated / "train", "input.tokenizer": tokenizer_dir, **RING_FSDP, **overrides}
  return ["--config", config, "--workdir", str(workdir), *(f"--config.{k}={v}" for k, v in over.items())]


def _losses(workdir: pathlib.Path) -> dict[int, float]:
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


def _restore(config, workdir: pathlib.Path, step: int):
  """(state on this process's device, data state) of a checkpoint written by any number of processes."""
  tok = Tokenizer.load(config.input.tokenizer)
  abstract = trainer.Trainer(config, vocab_size=tok.vocab_size).abstract_with_shardings()
  ckpt = checkpoint.Checkpointer(str(workdir / checkpoint.CHECKPOINT_DIR), every=1, keep=10)
  try:
    state, data = ckpt.restore(step, abstract)
  finally:
    ckpt.close()
  return jax.device_get(state), data


def _noise_only(path: str) -> bool:
  # Attention key biases get a gradient of exactly zero (softmax ignores a shift shared by all
  # keys of a query): what they receive is rounding noise, which Adam scales to full-size steps
  # of either sign, so two correct runs that round differently disagree on them and nothing else.
  return "['key']['bias']" in path


def _assert_close(a, b, rtol=1e-4, atol=1e-5):
  flat_a, tree_a = jax.tree_util.tree_flatten_with_path(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  compared = 0
  for (path, x), y in zip(flat_a, flat_b, strict=True):
    path = jax.tree_util.keystr(path)
    if not (rtol or atol) or not _noise_only(path):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=path)
      compared += 1
  assert compared > len(flat_a) // 2


def _assert_same_curve(a: dict[int, float], b: dict[int, float], steps: int) -> None:
  assert sorted(a) == sorted(b) == list(range(1, steps + 1))
  np.testing.assert_allclose([a[s] for s in sorted(a)], [b[s] for s in sorted(b)], rtol=1e-5)


# Fast checks (no processes started).


def test_start_up_needs_all_three_settings_and_one_process_needs_none(monkeypatch):
  for var in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
    monkeypatch.delenv(var, raising=False)
  with pytest.raises(ValueError, match="missing: process_id"):
    distributed.initialize("127.0.0.1:1234", 2)
  monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "2")
  monkeypatch.setenv(distributed.ENV_PROCESS_ID, "2")
  with pytest.raises(ValueError, match=r"--process-id must be in \[0, 2\), got 2"):
    distributed.initialize("127.0.0.1:1234")
  monkeypatch.setenv(distributed.ENV_PROCESS_ID, "x")
  with pytest.raises(ValueError, match="must be an integer"):
    distributed.initialize("127.0.0.1:1234")
  assert distributed.initialize(num_processes=1, process_id=0).how == "single"
  monkeypatch.delenv(distributed.ENV_NUM_PROCESSES)
  monkeypatch.delenv(distributed.ENV_PROCESS_ID)
  for var in ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "TPU_WORKER_HOSTNAMES", "KUBERNETES_SERVICE_HOST"):
    monkeypatch.delenv(var, raising=False)
  assert distributed.initialize().how == "single"  # no flags and no cluster: one process


def test_streams_split_over_processes_in_order():
  assert streams.stream_count(0, 2) == 2 and streams.stream_count(4, 2) == 4
  with pytest.raises(ValueError, match="does not split over 2 processes"):
    streams.stream_count(3, 2)
  assert [list(streams.local_streams(4, p, 2)) for p in range(2)] == [[0, 1], [2, 3]]


@hypothesis.given(processes=st.integers(1, 16), per=st.integers(1, 8))
def test_every_stream_runs_on_exactly_one_process_in_stream_order(processes, per):
  n = streams.stream_count(processes * per, processes)
  order = [s for p in range(processes) for s in streams.local_streams(n, p, processes)]
  assert order == list(range(n))  # process-major order is stream order: the global batch does not depend on P


def _counting_streams(streams_n: int) -> streams.StreamIterator:
  """Stream s yields batches of 2 rows holding s * 1000 + position: where each row came from is visible."""
  import grain  # pylint: disable=g-import-not-at-top
  from webpairs.pretrain import sharding  # pylint: disable=g-import-not-at-top

  def make(s: int):
    ds = grain.MapDataset.range(100).map(lambda i, s=s: {"text": np.full((3,), s * 1000 + i, np.int32)})
    return ds.to_iter_dataset().batch(2)

  return streams.StreamIterator(make, sharding.batch_sharding(sharding.make_mesh(1)), streams_n, 0, 1)


def test_streams_concatenate_in_order_save_every_position_and_refuse_another_count():
  it = _counting_streams(2)
  first = np.asarray(next(it)["text"])[:, 0]
  assert first.tolist() == [0, 1, 1000, 1001]  # stream 0's rows, then stream 1's
  state = it.get_state()
  assert state["streams"] == 2 and len(state["positions"]) == 2
  want = np.asarray(next(it)["text"])[:, 0].tolist()
  again = _counting_streams(2)
  again.set_state(json.loads(json.dumps(state)))  # through JSON, as in the checkpoint
  assert np.asarray(next(again)["text"])[:, 0].tolist() == want == [2, 3, 1002, 1003]
  with pytest.raises(ValueError, match=r"positions of 2 input stream\(s\); this run has 1 .*--config.input.streams=2"):
    _counting_streams(1).set_state(state)


@pytest.mark.slow
@SLOW
def test_resume_with_another_number_of_streams_is_a_clear_error(curated, tokenizer_dir, tmp_path):
  config = tiny_config(curated, tokenizer_dir, **{"input.streams": 2})
  trainer.train(config, str(tmp_path), stop_at_step=2)
  _, data = _restore(config, tmp_path, 2)
  assert data["streams"] == 2 and len(data["positions"]) == 2
  config.input.streams = 0  # one stream per process: 1 here
  with pytest.raises(ValueError, match=r"positions of 2 input stream\(s\); this run has 1 .*--config.input.streams=2"):
    trainer.train(config, str(tmp_path), stop_at_step=4)


# Two processes.


def test_two_processes_train_like_one(curated, tokenizer_dir, tmp_path):
  """CI's case: 2 processes x 2 devices, ring loss + FSDP, 4 steps == one device in this process on the same 2 streams."""
  steps = 4
  done = mp.run(2, 2, _args(curated, tokenizer_dir, tmp_path / "two", **{"total_steps": steps}),
                log_dir=str(tmp_path / "logs"), timeout=400)
  assert "process 1 of 2" in done[1].output
  assert "[pretrain]" not in done[1].output.replace("[pretrain] process 1 of 2", "")  # progress from process 0 only
  config = tiny_config(curated, tokenizer_dir, **{**RING_FSDP, "loss.name": "ring", "total_steps": steps,
                                                  "input.streams": 2})
  trainer.train(config, str(tmp_path / "one"))
  _assert_same_curve(_losses(tmp_path / "two"), _losses(tmp_path / "one"), steps)
  two, data_two = _restore(config, tmp_path / "two", steps)
  one, data_one = _restore(config, tmp_path / "one", steps)
  assert data_two == data_one and data_two["streams"] == 2  # both processes' positions were saved
  _assert_close(two, one)


def _two_against_four(curated, tokenizer_dir, tmp_path, config: str, steps: int = 20, **over) -> None:
  args = lambda name: _args(curated, tokenizer_dir, tmp_path / name, config, total_steps=steps, **over)
  mp.run(2, 2, args("two"), log_dir=str(tmp_path / "logs-two"), timeout=600)
  mp.run(1, 4, [*args("four"), "--config.input.streams=2"], log_dir=str(tmp_path / "logs-four"), timeout=600)
  _assert_same_curve(_losses(tmp_path / "two"), _losses(tmp_path / "four"), steps)
  from webpairs.configs import loader  # pylint: disable=g-import-not-at-top
  cfg = loader.load_config(loader.PRETRAIN, config)
  loader.apply_overrides(cfg, [f"input.shards={curated / 'train'}", f"input.tokenizer={tokenizer_dir}",
                               *(f"{k}={v}" for k, v in {**RING_FSDP, "total_steps": steps, **over}.items())])
  two, _ = _restore(cfg, tmp_path / "two", steps)
  four, _ = _restore(cfg, tmp_path / "four", steps)
  _assert_close(two, four)


@pytest.mark.slow
@SLOW
def test_two_processes_ring_fsdp_20_steps_equal_one_process_with_four_devices(curated, tokenizer_dir, tmp_path):
  _two_against_four(curated, tokenizer_dir, tmp_path, "siglip:tiny,loss=ring")


@pytest.mark.slow
@SLOW
def test_two_processes_silc_20_steps_equal_one_process_with_four_devices(curated, tokenizer_dir, tmp_path):
  _two_against_four(curated, tokenizer_dir, tmp_path, "silc:tiny,loss=ring")


def _wait_for(path: pathlib.Path) -> bool:
  return path.is_dir()


@pytest.mark.slow
@SLOW
def test_killing_both_processes_and_restarting_gives_the_uninterrupted_parameters(curated, tokenizer_dir, tmp_path):
  steps = 20
  args = lambda name: _args(curated, tokenizer_dir, tmp_path / name, total_steps=steps, ckpt_every=5)
  mp.run(2, 2, args("straight"), log_dir=str(tmp_path / "logs-straight"), timeout=600)

  logs = tmp_path / "logs-killed"
  logs.mkdir()
  procs = mp.start(2, 2, args("killed"), log_dir=str(logs))
  mp.kill_when(procs, lambda: _wait_for(tmp_path / "killed" / checkpoint.CHECKPOINT_DIR / "10"), [0, 1], timeout=600)
  killed = mp.wait(procs, log_dir=str(logs), timeout=60)
  assert all(f.returncode == -9 for f in killed)
  saved = sorted(int(p.name) for p in (tmp_path / "killed" / checkpoint.CHECKPOINT_DIR).iterdir() if p.name.isdigit())
  assert 10 in saved and steps not in saved  # killed mid-run

  again = mp.run(2, 2, args("killed"), log_dir=str(tmp_path / "logs-again"), timeout=600)
  assert f"resumed from step {saved[-1]}" in again[0].output
  config = tiny_config(curated, tokenizer_dir, **{**RING_FSDP, "loss.name": "ring", "total_steps": steps})
  straight, data_straight = _restore(config, tmp_path / "straight", steps)
  resumed, data_resumed = _restore(config, tmp_path / "killed", steps)
  assert data_straight == data_resumed
  _assert_close(straight, resumed, rtol=0, atol=0)  # the same programs on the same data: bit for bit


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("victim", [1, 0])
def test_a_lost_process_stops_the_other_within_bounded_time(curated, tokenizer_dir, tmp_path, victim):
  lost_after = 10
  logs = tmp_path / "logs"
  logs.mkdir()
  procs = mp.start(2, 2, _args(curated, tokenizer_dir, tmp_path / "w", total_steps=100_000, ckpt_every=2),
                   log_dir=str(logs), env={distributed.ENV_LOST_AFTER: str(lost_after)})
  mp.kill_when(procs, lambda: _wait_for(tmp_path / "w" / checkpoint.CHECKPOINT_DIR / "2"), [victim], timeout=600)
  t0 = time.monotonic()
  survivor = 1 - victim
  done = mp.wait(procs, log_dir=str(logs), timeout=3 * lost_after + 30)
  waited = time.monotonic() - t0
  assert done[victim].returncode == -9
  assert done[survivor].returncode not in (0, None), done[survivor].output[-3000:]
  assert waited < 3 * lost_after + 30
  if victim == 0:
    # The coordination service lives in process 0: JAX's own client sees it go at once and
    # aborts the process before our watchdog's next beat, naming the leader (process 0).
    assert "the leader task was preempted/died" in done[survivor].output, done[survivor].output[-3000:]
  else:
    assert f"lost process {victim} of 2" in done[survivor].output, done[survivor].output[-3000:]


def test_processes_that_disagree_on_the_config_stop_with_a_clear_error(curated, tokenizer_dir, tmp_path):
  logs = tmp_path / "logs"
  logs.mkdir()
  args = _args(curated, tokenizer_dir, tmp_path / "w", total_steps=2)
  procs = mp.start(2, 2, args, log_dir=str(logs), per_process=[[], ["--config.seed=1"]])
  done = mp.wait(procs, log_dir=str(logs), timeout=300)
  for f in done:
    assert f.returncode == 2, f.output[-3000:]
    assert "the processes disagree on the config: processes [0]; processes [1] each hold a different one" in f.output


@pytest.mark.slow
@SLOW
def test_a_non_finite_step_stops_every_process(curated, tokenizer_dir, tmp_path):
  args = _args(curated, tokenizer_dir, tmp_path / "w", total_steps=20, ckpt_every=1, **{
      "optax.lr": 1e20, "optax.grad_clip": 0.0, "optax.warmup_steps": 0})
  logs = tmp_path / "logs"
  logs.mkdir()
  done = mp.wait(mp.start(2, 2, args, log_dir=str(logs)), log_dir=str(logs), timeout=400)
  steps = set()
  for f in done:
    assert f.returncode == 3, f.output[-3000:]
    steps.add(f.output.split("webpairs pretrain: stopped: step ")[1].split(":")[0])
  assert len(steps) == 1  # both at the same step


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("config,tokenizer,over", [
    ("siglip:tiny,loss=dense", "tokenizer_dir", {"sharding": "replicate"}),  # data parallel
    ("siglip:tiny,loss=chunked", "tokenizer_dir", {"loss.chunk_size": 4}),
    ("cappa:tiny", "tokenizer_dir", {}),
    ("locca:tiny", "loc_tokenizer_dir", {}),
    ("siglip2:tiny,loss=ring", "loc_tokenizer_dir", {}),  # 4 steps: the switch (80%) falls inside
])
def test_every_objective_on_two_processes_equals_one_process(config, tokenizer, over, request, curated, tmp_path):
  _two_against_four(curated, request.getfixturevalue(tokenizer), tmp_path, config, steps=4, **over)


# Scheduled registry evals: every process runs them on the same eval data; process 0 writes.

_EVAL_CONFIG = '''
from webpairs.configs import evals
from webpairs.configs import loader


def get_config(arg):
  c = loader.load_config(loader.PRETRAIN, {base!r} + ":" + arg)
  for name, every in {every!r}.items():
    c.evals[name] = dict(evals.EVALS[name], every_steps=every)
  c.eval_data_root = {root!r}
  return c
'''

# Loaded by every started process (on PYTHONPATH): records the scores each process computed and which
# processes wrote eval files, in files named by process index.
_SITECUSTOMIZE = '''
import json, os
import jax
from webpairs.eval import registry, report

_OUT = {out!r}
_run_all, _write_results = registry.run_all, report.write_results


def run_all(*args, **kwargs):
  scores = _run_all(*args, **kwargs)
  with open(os.path.join(_OUT, f"scores-{{jax.process_index()}}.jsonl"), "a") as f:
    f.write(json.dumps({{k: v for k, v in scores.items() if not k.endswith("/seconds")}}) + "\\n")
  return scores


def write_results(workdir, step, *args, **kwargs):
  with open(os.path.join(_OUT, f"wrote-{{jax.process_index()}}.txt"), "a") as f:
    f.write(f"{{step}}\\n")
  return _write_results(workdir, step, *args, **kwargs)


registry.run_all, report.write_results = run_all, write_results
'''


def _scores(out: pathlib.Path, process: int) -> list[dict[str, float]]:
  return [json.loads(line) for line in (out / f"scores-{process}.jsonl").read_text().splitlines()]


@pytest.mark.slow
@SLOW
@pytest.mark.parametrize("base,arg,zero_shot,every_4", [
    ("siglip", "tiny,loss=ring", "synthetic_zeroshot", "synthetic_retrieval"),  # two towers: embeddings
    ("cappa", "tiny", "synthetic_caption_zeroshot", "synthetic_perplexity"),  # a captioner: scores
])
def test_scheduled_registry_evals_on_two_processes_equal_one_process_and_process_0_writes(
    base, arg, zero_shot, every_4, curated, tokenizer_dir, tmp_path):
  from webpairs.demo import synthetic  # pylint: disable=g-import-not-at-top
  synthetic.write_eval_set(tmp_path / "evaldata" / "synthetic", 24, seed=0)
  config = tmp_path / "evals_config.py"
  config.write_text(_EVAL_CONFIG.format(base=base, every={zero_shot: 2, every_4: 4}, root=str(tmp_path / "evaldata")))
  steps = 4
  runs = {}
  for name, processes, devices in (("two", 2, 2), ("four", 1, 4)):
    out = tmp_path / f"hook-{name}"
    out.mkdir()
    (out / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(out=str(out)))
    args = _args(curated, tokenizer_dir, tmp_path / name, f"{config}:{arg}", total_steps=steps)
    if processes == 1:
      args.append("--config.input.streams=2")
    runs[name] = mp.run(processes, devices, args, log_dir=str(tmp_path / f"logs-{name}"), timeout=600,
                        env={"PYTHONPATH": os.pathsep.join([str(out), str(mp.ROOT)])})

  two, four = tmp_path / "hook-two", tmp_path / "hook-four"
  evals_at = [2, 4]  # zero-shot every 2 steps; the other at step 4 (the end)
  for process in (0, 1):
    assert len(_scores(two, process)) == len(evals_at)
  for s0, s1, s4 in zip(_scores(two, 0), _scores(two, 1), _scores(four, 0), strict=True):
    assert s0 == s1  # the same numbers on every process, bit for bit
    assert sorted(s0) == sorted(s4) and f"{zero_shot}/accuracy" in s0
    np.testing.assert_allclose([s0[k] for k in sorted(s0)], [s4[k] for k in sorted(s4)], rtol=1e-4, atol=1e-5)
  assert {k.split("/")[0] for k in _scores(two, 0)[-1]} == {zero_shot, every_4}
  # Files from process 0 only, once per eval step; process 1 printed no eval line.
  assert (two / "wrote-0.txt").read_text().split() == [str(s) for s in evals_at]
  assert not (two / "wrote-1.txt").exists()
  assert sorted(p.name for p in (tmp_path / "two" / "eval").glob("*.json")) == [f"{s}.json" for s in evals_at]
  assert (tmp_path / "two" / "eval" / "report.html").exists()
  assert "evals:" in runs["two"][0].output and "evals:" not in runs["two"][1].output
  record = json.loads((tmp_path / "two" / "eval" / f"{steps}.json").read_text())
  assert record["metrics"][f"{zero_shot}/accuracy"] == _scores(two, 0)[-1][f"{zero_shot}/accuracy"]
