"""Select with M4 balancing on a generated 12k-row table: the Beam job keeps exactly the rows that
`m4.fit` + `fit.keep` keep in memory (issue test 10), with quotas, soft and hard infeasibility.
"""

from __future__ import annotations

import base64
import collections
import json
import pathlib
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.pipelines import annotation_tables
from webpairs import cli
from webpairs.balancing import m4
from webpairs.balancing import quotas as quotas_lib
from webpairs.configs.curation import load_curation_config
from webpairs.report import html as report
from webpairs.pipelines.select import select as select_job
from webpairs.pipelines.select import select_balance

ONE_WORKER = ["--direct_num_workers=1"]
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
ROWS = 12_000
# The generated pool is 70/30 male/female among rows with an attribute: far from pi = 0.3 each.
BALANCE = ["balance.enabled=True", "balance.pi=(0.3,0.3)", "balance.eps_rep=0.02", "balance.eps_assoc=0.005",
           "balance.eta=0.35"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("generated")
  annotation_tables.write_tables(out, ROWS, num_files=4, seed=3, score_column="clip_score")
  return out


def _annotations(table: pathlib.Path) -> dict[str, np.ndarray]:
  """The annotation rows in selection order, read without any pipeline code."""
  rows = [r for p in sorted(table.glob("annotations-*.parquet")) for r in pq.read_table(p).to_pylist()]
  m, c = len(annotation_tables.INDICATORS["attributes"]), len(annotation_tables.INDICATORS["concepts"])
  return {
      "ids": np.array([f"{r['source']}#{r['key']}" for r in rows], dtype=object),
      "lang": np.array([r["lang"] for r in rows], dtype=object),
      "s": np.array([r["attr_s"] or [False] * m for r in rows], dtype=np.uint8),
      "y": np.array([r["concept_y"] or [False] * c for r in rows], dtype=np.uint8),
      "u": np.array([r["clip_score"] for r in rows], dtype=np.float64),
  }


def _selection(out: pathlib.Path) -> list[dict]:
  return [r for p in sorted(out.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _fit_kwargs(config) -> dict:
  b = config.balance
  return dict(pi=b.pi, eps_rep=b.eps_rep, eps_assoc=b.eps_assoc, eta=b.eta, V=b.V, gamma=b.gamma, seed=b.seed,
              u_step=b.u_step)


@pytest.fixture(scope="module")
def balanced(table, tmp_path_factory):
  out = tmp_path_factory.mktemp("balanced")
  config = load_curation_config("raw", BALANCE + ["balance.utility=clip_score"])
  return out, config, select_job.run_select(str(table), config, str(out), ONE_WORKER, show_progress=False)


def test_beam_keep_decisions_equal_the_in_memory_fit(table, balanced):
  out, config, summary = balanced
  ann, rows = _annotations(table), _selection(out)
  reason = np.array([r["reason"] for r in rows], dtype=object)
  # The pool is what every earlier rule kept; M4 never touches a row another rule rejected.
  pool = np.isin(reason, ["ok", "m4_balance"])
  assert all(("m4_balance" in r["reasons"]) == (r["reason"] == "m4_balance") for r in rows)
  s, y, u = ann["s"][pool], ann["y"][pool], ann["u"][pool]
  fit = m4.fit(s, y, u, **_fit_kwargs(config))
  keep = fit.keep(ann["ids"][pool].tolist(), s, y, u)
  np.testing.assert_array_equal(keep, reason[pool] == "ok")
  assert 0.3 < keep.mean() < 0.4 and summary["reason_counts"]["m4_balance"] == int((~keep).sum())

  b = summary["balance"]
  state = m4.M4Fit.from_json(json.dumps(b["fit"]))
  np.testing.assert_array_equal(state.v, fit.v)
  assert state.mu == fit.mu and b["pool_rows"] == pool.sum() and b["kept_rows"] == keep.sum()
  assert b["expected_keep_rate"] == pytest.approx(0.35, abs=1e-12) and not b["infeasible"] and b["hard"]
  pi = np.array([0.3, 0.3])
  before = m4.bias_report(s, y, None, pi)
  after = m4.bias_report(s, y, keep, pi)
  for name, got, mem in (("before", b["bias"]["before"], before), ("after", b["bias"]["after"], after)):
    assert [got["representation"][a] for a in b["attributes"]] == pytest.approx(mem["representation"]), name
    np.testing.assert_allclose([[got["association"][a][c] for c in b["concepts"]] for a in b["attributes"]],
                               mem["association"], rtol=1e-9, atol=1e-15, err_msg=name)
  assert b["bias"]["after"]["keep_rate"] == pytest.approx(keep.mean())
  assert b["bias"]["before"]["worst_violation"] > 0.1  # the generated pool is biased
  assert b["bias"]["after_expected"]["constraints_met"]  # and the expected sample meets every bound
  assert b["concept_counts"] == dict(zip(b["concepts"], y.sum(0).tolist()))


def test_quotas_then_m4_weights_the_pool_by_copies_on_two_workers(table, tmp_path):
  config = load_curation_config("lang_rebalanced", BALANCE + ["balance.concepts=('doctor','nurse','pilot')"])
  summary = select_job.run_select(str(table), config, str(tmp_path), TWO_WORKERS, show_progress=False)
  ann, rows = _annotations(table), _selection(tmp_path)
  # The rows the quotas were planned on, and their copies, from the quota plan in the summary.
  before_quota = np.array([set(r["reasons"]) <= {"lang_quota", "m4_balance"} for r in rows])
  plan = quotas_lib.plan_quotas(collections.Counter(ann["lang"][before_quota].tolist()),
                                quotas_lib.QuotaConfig.from_mapping(config.quotas.to_dict()))
  factors = np.array([plan.factor(l) for l in ann["lang"][before_quota]])
  copies = quotas_lib.repeats(factors, m4.key_uniform(ann["ids"][before_quota].tolist(), config.seed))
  pool = np.flatnonzero(before_quota)[copies > 0]
  copies = copies[copies > 0]
  assert copies.max() >= 3  # low-resource languages are up-sampled: weights matter
  concepts = [annotation_tables.INDICATORS["concepts"].index(c) for c in ("doctor", "nurse", "pilot")]
  s, y = ann["s"][pool], ann["y"][pool][:, concepts]
  fit = m4.fit(np.repeat(s, copies, axis=0), np.repeat(y, copies, axis=0), **_fit_kwargs(config))
  keep = fit.keep(ann["ids"][pool].tolist(), s, y)
  reason = np.array([r["reason"] for r in rows], dtype=object)
  np.testing.assert_array_equal(keep, reason[pool] == "ok")
  repeat = np.array([r["repeat"] for r in rows])
  np.testing.assert_array_equal(repeat[pool], np.where(keep, copies, 0))
  b = summary["balance"]
  assert b["concepts"] == ["doctor", "nurse", "pilot"] and b["pool_rows"] == copies.sum()
  assert b["kept_rows"] == int(copies[keep].sum()) == summary["written"]


def test_infeasible_eta_fails_before_any_selection_file(table, balanced, tmp_path, capsys):
  config = load_curation_config("raw", BALANCE + ["balance.eta=0.6"])
  with pytest.raises(m4.InfeasibleError, match="eta=0.6 exceeds the largest keep rate") as err:
    select_job.run_select(str(table), config, str(tmp_path), ONE_WORKER, show_progress=False)
  assert not list(tmp_path.glob("selection-*")) and not (tmp_path / "summary.json").exists()
  found = json.loads((tmp_path / select_balance.INFEASIBLE_FILE).read_text())
  # The same pool as the feasible run: its largest feasible eta, computed in memory.
  ann, rows = _annotations(table), _selection(balanced[0])
  pool = np.isin([r["reason"] for r in rows], ["ok", "m4_balance"])
  eta_max = m4.max_feasible_eta(ann["s"][pool], ann["y"][pool], pi=0.3, eps_rep=0.02, eps_assoc=0.005)
  assert err.value.max_feasible_eta == found["max_feasible_eta"] == pytest.approx(eta_max, abs=1e-9)
  assert err.value.eta == 0.6 and found["before"]["worst_violation"] > 0.1
  # The CLI says it in one line; a feasible rerun into the same folder clears the record.
  args = ["curate", "select", "--annotations", str(table), "--config", "raw", "--output", str(tmp_path),
          "--no-progress"] + [f"--config.{o}" for o in BALANCE] + ONE_WORKER
  assert cli.main(args + ["--config.balance.eta=0.6"]) == 1
  assert "error: select: M4 balancing is infeasible: eta=0.6" in capsys.readouterr().err
  assert cli.main(args) == 0
  assert "M4 balance: kept" in capsys.readouterr().out
  assert not (tmp_path / select_balance.INFEASIBLE_FILE).exists() and (tmp_path / "summary.json").exists()


def test_soft_mode_selects_and_flags_infeasibility(table, tmp_path):
  config = load_curation_config("raw", BALANCE + ["balance.eta=0.6", "balance.V=1.0"])
  summary = select_job.run_select(str(table), config, str(tmp_path), ONE_WORKER, show_progress=False)
  b = summary["balance"]
  assert b["infeasible"] and not b["hard"] and b["V"] == 1.0 and "soft constraints" in b["reason"]
  assert b["max_feasible_eta"] < 0.6 and b["expected_keep_rate"] == pytest.approx(0.6, abs=1e-9)
  assert not b["bias"]["after_expected"]["constraints_met"]
  assert summary["kept"] == b["kept_rows"] and summary["reason_counts"]["m4_balance"] > 0
  hard = load_curation_config("raw", BALANCE + ["balance.V=inf"])
  assert hard.balance.V == float("inf")  # the CLI spelling of hard mode


@pytest.mark.parametrize("overrides, error, match", [
    (["balance.attributes=('nonbinary',)"], ValueError, "nonbinary"),
    (["balance.utility=no_such_column"], ValueError, "no_such_column"),
    (["quotas.enabled=True", "balance.seed=0"], ValueError, "independent hashes"),
    (["balance.eta=1.0"], ValueError, "eta"),
    (["balance.source=images"], ValueError, "source"),
])
def test_bad_balance_settings_fail_before_the_job(table, tmp_path, overrides, error, match):
  with pytest.raises(error, match=match):
    select_job.run_select(str(table), load_curation_config("raw", BALANCE + overrides), str(tmp_path), ONE_WORKER,
                          show_progress=False)
  assert not list(tmp_path.iterdir())


def test_annotations_without_indicator_names_say_what_to_do(tmp_path):
  annotation_tables.write_tables(tmp_path / "old", 200, num_files=1, indicators=False)
  with pytest.raises(ValueError, match="balance.source='keywords'"):
    select_job.run_select(str(tmp_path / "old"), load_curation_config("raw", BALANCE), str(tmp_path / "sel"),
                          ONE_WORKER, show_progress=False)


def test_report_shows_bias_before_and_after(balanced, tmp_path):
  out, _, summary = balanced
  page = pathlib.Path(report.write_report(str(tmp_path), str(out))).read_text(encoding="utf-8")
  section = page[page.index("<h2>Balancing (M4)</h2>"):]
  section = section[:section.index("<h2>", 5)]
  b = summary["balance"]
  cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
  row = cells[cells.index("keep rate"):][:5]
  assert row == ["keep rate", "1.0000", "1.0000", "0.3500", f"{b['bias']['after']['keep_rate']:.4f}"]
  female = cells[cells.index("representation female: E[s] - pi"):][:5]
  assert female[2] == f"{b['bias']['before']['representation']['female']:+.5f}" and female[3] == "-0.02000"
  assert "max feasible eta = 0.4186: feasible" in section
  png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', section).group(1))
  assert png == (tmp_path / "report" / "bias.png").read_bytes()
