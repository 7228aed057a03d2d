"""The evaluator registry: built from config, scheduled by step, results keyed '<eval>/<metric>'."""

from __future__ import annotations

import ml_collections
import pytest

from tests.eval import fakes, schemas
from webpairs.configs import evals
from webpairs.eval import registry

ROWS = [dict(country="A", region="R1", income=100, labels=["red"], colour="red"),
        dict(country="A", region="R1", income=150, labels=["red"], colour="red", spot="white"),
        dict(country="B", region="R2", income=5000, labels=["blue"], colour="blue"),
        dict(country="B", region="R2", income=4000, labels=["blue"], colour="blue", spot="white")]


@pytest.fixture()
def data_root(tmp_path):
  schemas.dollarstreet_metadata(tmp_path / "ds", ROWS)
  return str(tmp_path)


def evals_config():
  c = ml_collections.ConfigDict()
  c.zs = dict(type="zero_shot", dataset="dollarstreet", data_dir="ds", every_steps=100, templates=["{}"])
  c.geo = dict(type="fewshot", dataset="dollarstreet", data_dir="ds", every_steps=0, targets=["region"], shots=[1],
               seeds=1)
  c.retrieval = dict(shards="", every=0)  # the trainer's own held-out retrieval: no type, not ours
  return c


def test_from_config_schedule_and_run(data_root):
  evaluators = registry.from_config(evals_config(), data_root=data_root)
  assert sorted(evaluators) == ["geo", "zs"]
  assert registry.due(evaluators, 100) == ["zs"] and registry.due(evaluators, 150) == []
  assert registry.due(evaluators, 0) == [] and sorted(registry.due(evaluators, 7, last=True)) == ["geo", "zs"]
  out = registry.run_all(evaluators, fakes.ColourModel(), names=["zs"])
  assert out["zs/accuracy"] == 1.0 and out["zs/accuracy/income/0-200"] == 1.0 and "zs/seconds" in out
  assert not any(k.startswith("geo/") for k in out)


def test_only_named_evals_are_built(data_root):
  assert list(registry.from_config(evals_config(), data_root=data_root, names=["geo"])) == ["geo"]
  with pytest.raises(KeyError, match="no eval config named nope"):
    registry.from_config(evals_config(), data_root=data_root, names=["nope"])


def test_missing_data_fails_at_build_time(tmp_path, data_root):
  with pytest.raises(FileNotFoundError, match="Dollar Street metadata not found"):
    registry.from_config(evals_config(), data_root=str(tmp_path / "elsewhere"))
  too_many_shots = dict(type="fewshot", dataset="dollarstreet", data_dir="ds", targets=["region"], shots=[2])
  with pytest.raises(ValueError, match=r"2-shot region probes need two classes with more than 2 images; .* \[2, 2\]"):
    registry.build(too_many_shots, data_root=data_root)


def test_suites_resolve():
  configs = evals.resolve(["synthetic", "xm3600"])
  assert list(configs) == ["synthetic_zeroshot", "synthetic_retrieval", "synthetic_geo", "xm3600"]
  own = {"xm3600": dict(type="retrieval", dataset="xm3600", ks=[1])}
  assert evals.resolve(["xm3600"], own)["xm3600"]["ks"] == [1]
  with pytest.raises(KeyError, match="unknown eval"):
    evals.resolve(["imagenet"])
  for name, cfg in evals.EVALS.items():
    assert cfg["type"] in registry.EVALUATORS, name


@pytest.mark.parametrize("name,folder", [("dollarstreet", "dollarstreet"), ("dollarstreet_geo", "dollarstreet"),
                                         ("marvl", "marvl")])
def test_built_in_configs_build_on_the_real_metadata(shared_data, name, folder):
  config = dict(evals.EVALS[name], data_dir=str(shared_data / "eval_metadata" / folder), loader={"check": False})
  ev = registry.build(config, data_root="/nonexistent")
  assert len(ev.dataset) > 3000
