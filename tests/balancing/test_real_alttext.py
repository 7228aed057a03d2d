"""Annotators and M4 on the 10,000 real alt-texts in ../shared/data/real_alttext/ (skipped if absent)."""

import numpy as np

from webpairs.balancing import audit


def test_audit_real_alttext(shared_data):
  path = shared_data / "real_alttext" / "img2dataset_test_10000.parquet"
  captions, langs = audit.read_captions(str(path), "TEXT", "lang")
  assert len(captions) == 10_000 and langs is None  # raw img2dataset parquet: no language column
  langs = audit.detect_languages(captions)
  assert langs.count("en") > 8_000 and len(set(langs)) > 20
  result = audit.audit(captions, langs, pi="parity", eps_rep=0.002, eps_assoc=0.0001, eta=0.9)
  s, y = result["s"], result["y"]
  assert 300 < s[:, 0].sum() < 1_000 and 300 < s[:, 1].sum() < 1_000  # gendered terms in ~5% of captions
  assert 100 < y.any(1).sum() < 600 and (y.sum(0) > 0).sum() > 25
  assert result["before"]["worst_violation"] > 0.002 and not result["infeasible"]
  assert result["after"]["constraints_met"] and abs(result["after"]["keep_rate"] - 0.9) < 1e-9
  assert abs(result["realised"]["keep_rate"] - 0.9) < 0.01
  table = audit.markdown_table(result)
  assert table.count("\n| ") >= 10 and "feasible" in table
  # A tighter representation tolerance makes eta = 0.9 infeasible: said, not fitted.
  tight = audit.audit(captions, langs, pi="parity", eps_rep=0.001, eps_assoc=0.0001, eta=0.9)
  assert tight["infeasible"] and tight["fit"] is None and tight["max_feasible_eta"] < 0.9
  assert "infeasible: eta=0.9 exceeds" in audit.markdown_table(tight)
  np.testing.assert_array_equal(tight["s"], s)
