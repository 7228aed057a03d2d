"""`webpairs eval`: results JSON, markdown table and report.html with per-group plots, from a workdir's checkpoint."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.eval import fakes
from webpairs import cli
from webpairs.commands import eval as command
from webpairs.eval import report


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
  work = tmp_path / "run"
  work.mkdir()
  # The run's own config: a typed eval of ours beside the trainer's untyped held-out retrieval.
  evals = {"retrieval": {"shards": "", "every": 0},
           "mine": {"type": "zero_shot", "dataset": "dollarstreet", "data_dir": "synthetic", "templates": ["{}"],
                    "groups": ["region"]}}
  (work / "config.json").write_text(json.dumps({"evals": evals}))
  loaded = []

  def fake_load(workdir_, step, tokenizer):
    loaded.append((workdir_, step, tokenizer))
    return fakes.ColourModel(), step or 40

  monkeypatch.setattr(command, "load_model", fake_load)
  return work, loaded


def test_write_synthetic_then_eval(tmp_path, workdir, capsys):
  work, loaded = workdir
  data = tmp_path / "data"
  assert cli.main(["eval", "--write-synthetic", str(data / "synthetic"), "--examples", "72"]) == 0
  assert (data / "synthetic" / "metadata.csv").is_file()
  capsys.readouterr()

  assert cli.main(["eval", "--workdir", str(work), "--evals", "synthetic,mine", "--data-root", str(data),
                   "--checkpoint", "30"]) == 0
  printed = capsys.readouterr().out
  assert loaded == [(str(work), 30, None)]
  record = json.loads((work / "eval" / "30.json").read_text())
  m = record["metrics"]
  assert record["step"] == 30 and set(record["evals"]) == {"synthetic_zeroshot", "synthetic_retrieval",
                                                            "synthetic_geo", "mine"}
  assert 0 <= m["synthetic_zeroshot/accuracy"] <= 1 and "mine/accuracy/region/Northmark" in m
  assert "| synthetic_zeroshot | accuracy |" in printed and "### synthetic_zeroshot: by income" in printed
  assert "| **max - min** |" in printed
  assert (work / "eval" / "30.md").read_text() in printed
  html = (work / "eval" / "report.html").read_text()
  assert "synthetic_retrieval" in html and "by language" in html and "max - min" in html
  for kind in ("income", "region", "country"):
    png = work / "eval" / "plots" / f"30_synthetic_zeroshot_{kind}.png"
    assert Image.open(png).size[0] > 300
  assert (work / "eval" / "plots" / "30_synthetic_retrieval_language.png").is_file()

  # A second step: the report keeps the history.
  assert cli.main(["eval", "--workdir", str(work), "--evals", "mine", "--data-root", str(data)]) == 0
  html = (work / "eval" / "report.html").read_text()
  assert "Over training" in html and (work / "eval" / "40.json").is_file()


def test_errors(tmp_path, workdir, capsys):
  work, loaded = workdir
  assert cli.main(["eval", "--workdir", str(work), "--evals", "nope", "--data-root", str(tmp_path)]) == 2
  assert "unknown eval 'nope'" in capsys.readouterr().err
  # Missing data fails before any model is loaded.
  assert cli.main(["eval", "--workdir", str(work), "--evals", "mine", "--data-root", str(tmp_path)]) == 2
  assert "Dollar Street metadata not found" in capsys.readouterr().err and not loaded
  assert cli.main(["eval", "--workdir", str(work)]) == 2
  assert cli.main(["eval", "--list", "--workdir", str(work)]) == 0
  listed = capsys.readouterr().out
  assert "mine: zero_shot on dollarstreet" in listed and "suite cultural:" in listed


def test_markdown_table():
  md = report.markdown({"zs/accuracy": 0.5, "zs/accuracy/income/0-200": 0.25, "zs/accuracy/income/>1998": 0.75,
                        "zs/accuracy_disparity/income": 0.5, "rt/i2t_r1": 0.125}, step=3)
  assert md.startswith("## Evals at step 3")
  assert "| zs | accuracy | 0.5000 |" in md and "| rt | i2t_r1 | 0.1250 |" in md
  assert "| 0-200 | 0.2500 |" in md and "| **max - min** | 0.5000 |" in md
