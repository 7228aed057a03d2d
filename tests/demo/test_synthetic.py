"""The synthetic labelled eval set: written in the published formats, read by the real loaders, with learnable cues."""

from __future__ import annotations

import pytest

from tests.eval import fakes
from webpairs.configs import evals
from webpairs.demo import synthetic
from webpairs.eval import datasets, registry


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("evaldata")
  synthetic.write_eval_set(root / "synthetic", 96, seed=3)
  return root


def test_written_in_published_formats(data_root):
  ds = datasets.load("dollarstreet", str(data_root / "synthetic"))
  assert len(ds) == 96 and ds.classnames == tuple((c,) for c in sorted(synthetic.CLASS_COLOURS))
  assert set(ds.attributes["country"]) == set(synthetic.COUNTRIES)
  assert set(ds.attributes["income"]) == set(synthetic.INCOME)
  assert any(len(lab) == 2 for lab in ds.labels)  # a few images have two main shapes
  caps = datasets.load("xm3600", str(data_root / "synthetic"))
  assert caps.paths == tuple(f"images/{p}" for p in ds.paths)
  assert caps.languages() == sorted(synthetic.LANGUAGES)
  assert len(caps.captions) == 96 * len(synthetic.LANGUAGES) * synthetic.CAPTIONS_PER_LANGUAGE


def test_builtin_synthetic_evals_prompt_what_the_demo_draws():
  # configs/evals spells the synthetic set's prompts out (eval never imports the demo): they must stay in step.
  for name in ("synthetic_zeroshot", "synthetic_caption_zeroshot"):
    cfg = evals.EVALS[name]
    assert cfg["templates"] == list(synthetic.TEMPLATES)
    assert cfg["aliases"] == synthetic.class_aliases()


def test_deterministic(tmp_path):
  a = synthetic.write_eval_set(tmp_path / "a", 24, seed=1)
  b = synthetic.write_eval_set(tmp_path / "b", 24, seed=1)
  for name in ("metadata.csv", "captions.jsonl", "images/0001000007.jpg"):
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
  assert a.labels == b.labels
  c = synthetic.write_eval_set(tmp_path / "c", 24, seed=2)
  assert (tmp_path / "c" / "captions.jsonl").read_bytes() != (tmp_path / "a" / "captions.jsonl").read_bytes()
  del c


def test_cues_are_learnable_and_income_matters(data_root):
  """A model that sees only colours beats chance on all three evals; clutter makes poor homes harder."""
  configs = evals.resolve(["synthetic"])
  out = registry.run_all(registry.from_config(configs, data_root=str(data_root)), fakes.ColourModel())
  assert out["synthetic_zeroshot/accuracy"] > 2 * out["synthetic_zeroshot/chance"]
  assert out["synthetic_zeroshot/accuracy/income/>1998"] > out["synthetic_zeroshot/accuracy/income/0-200"]
  assert out["synthetic_zeroshot/accuracy_disparity/income"] > 0
  assert out["synthetic_retrieval/i2t_r1/language/en"] > 5 * out["synthetic_retrieval/chance_r1"]
  assert out["synthetic_geo/country/5shot"] > 3 * out["synthetic_geo/country/5shot_chance"]
