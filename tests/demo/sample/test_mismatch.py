"""Planted mismatched pairs: exact counts, real mismatches, truth that matches the shards, default bytes kept."""

import collections
import dataclasses
import hashlib
import json
import tarfile

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webpairs import cli
from webpairs.demo.sample import defects
from webpairs.demo.sample import mismatch
from webpairs.demo.sample import plan as plan_lib
from webpairs.demo.sample import writer

CLEAN = {d: 0.0 for d in defects.DEFAULT_RATES}


def _hashes(folder):
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _captions(folder):
  """key -> (.txt text, .json caption, sidecar caption), read back from the written shards."""
  out = {}
  for tar_path in sorted(folder.glob("*.tar")):
    members = collections.defaultdict(dict)
    with tarfile.open(tar_path) as tar:
      for m in tar:
        key, ext = m.name.split(".", 1)
        members[key][ext] = tar.extractfile(m).read()
    sidecar = pq.read_table(tar_path.with_suffix(".parquet")).to_pylist()
    for row in sidecar:
      got = members[row["key"]]
      txt = got["txt"].decode("utf-8", "replace") if "txt" in got else None
      out[row["key"]] = (txt, json.loads(got["json"]).get("caption"), row["caption"])
  return out


@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 80), rate=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_count_is_exact_and_every_pair_is_a_mismatch(n, rate, seed):
  base = plan_lib.plan_sample(n, seed, shard_size=25, rates=CLEAN, truncated_tar=False)
  planted = mismatch.plant_mismatches(base, rate)
  chosen = [ex for ex in planted.examples if ex.mismatched]
  assert len(chosen) == round(rate * n)
  for ex in chosen:
    orig, donor = base.examples[ex.index], base.examples[ex.caption_from]
    assert donor.index != ex.index and donor.caption != orig.caption
    assert (ex.caption, ex.lang, ex.txt, ex.json_caption) == (
        donor.caption, donor.lang, donor.caption.encode("utf-8"), donor.caption)
    # Nothing but the caption fields moved.
    assert dataclasses.replace(ex, caption=orig.caption, lang=orig.lang, txt=orig.txt,
                               json_caption=orig.json_caption, caption_from=None) == orig
  assert [ex for ex in planted.examples if not ex.mismatched] == [
      ex for ex in base.examples if ex.index not in {c.index for c in chosen}]


def test_only_kept_examples_are_mismatched_and_never_with_their_own_image():
  base = plan_lib.plan_sample(400, seed=1, shard_size=100)  # default defect rates, dups included
  planted = mismatch.plant_mismatches(base, 0.5)
  chosen = [ex for ex in planted.examples if ex.mismatched]
  assert len(chosen) == 200
  assert {ex.defect for ex in chosen} <= set(mismatch.ELIGIBLE)
  assert any(ex.defect in (defects.EXACT_DUP, defects.NEAR_DUP) for ex in chosen)
  group = lambda ex: ex.dup_of if ex.dup_of is not None else ex.index  # pylint: disable=unnecessary-lambda-assignment
  for ex in chosen:
    donor = base.examples[ex.caption_from]
    assert donor.defect in mismatch.ELIGIBLE and group(donor) != group(base.examples[ex.index])
  assert mismatch.plant_mismatches(base, 0.0) is base
  assert mismatch.plant_mismatches(base, 0.5) == planted  # seeded


def test_bad_rates_are_refused():
  base = plan_lib.plan_sample(100, seed=0, shard_size=50)
  for rate in (-0.1, 1.5):
    with pytest.raises(ValueError, match="must be in"):
      mismatch.plant_mismatches(base, rate)
  with pytest.raises(ValueError, match="valid caption"):  # ~20% of examples carry a defect
    mismatch.plant_mismatches(base, 0.95)


def test_truth_matches_the_captions_in_the_shards(tmp_path):
  kw = dict(num_examples=60, seed=4, shard_size=25, real_images_dir=None, truncated_tar=False)
  plain = writer.write_sample(tmp_path / "plain", **kw)
  summary = writer.write_sample(tmp_path / "mm", mismatch_rate=0.25, **kw)
  assert summary.num_mismatched == 15 and plain.num_mismatched == 0
  truth = pq.read_table(summary.truth_path).to_pylist()
  before = {r["key"]: r for r in pq.read_table(plain.truth_path).to_pylist()}
  shards = _captions(tmp_path / "mm")
  mismatched = [r for r in truth if r["mismatched"]]
  assert len(mismatched) == 15
  for r in truth:
    if r["caption"] is not None:
      assert shards[r["key"]] == (r["caption"],) * 3
    if r["mismatched"]:
      donor = before[r["caption_from"]]
      assert (r["caption"], r["lang"]) == (donor["caption"], donor["lang"])
      assert r["caption"] != before[r["key"]]["caption"]
    else:
      assert r["caption_from"] is None and r == dict(before[r["key"]])
    # Images, urls and defects are those of the plain sample.
    assert (r["sha256"], r["url"], r["defect"]) == tuple(before[r["key"]][c] for c in ("sha256", "url", "defect"))


def test_default_sample_bytes_do_not_change(tmp_path):
  kw = dict(num_examples=40, seed=9, shard_size=15, real_images_dir=None)
  writer.write_sample(tmp_path / "absent", **kw)
  writer.write_sample(tmp_path / "zero", mismatch_rate=0.0, **kw)
  assert _hashes(tmp_path / "absent") == _hashes(tmp_path / "zero")
  args = ["sample", "--examples", "30", "--seed", "2", "--shard-size", "10", "--real-images", "none"]
  assert cli.main(args + ["--output", str(tmp_path / "cli_absent")]) == 0
  assert cli.main(args + ["--output", str(tmp_path / "cli_zero"), "--mismatch-rate", "0"]) == 0
  assert _hashes(tmp_path / "cli_absent") == _hashes(tmp_path / "cli_zero")
  # A rate changes the shards that hold a mismatched caption, and nothing else there.
  assert cli.main(args + ["--output", str(tmp_path / "cli_mm"), "--mismatch-rate", "0.1"]) == 0
  moved = {r["shard"] for r in pq.read_table(tmp_path / "cli_mm" / writer.TRUTH_FILE).to_pylist()
           if r["mismatched"]}
  zero, mm = _hashes(tmp_path / "cli_zero"), _hashes(tmp_path / "cli_mm")
  for name in zero:
    if name.endswith(".tar"):
      assert (zero[name] != mm[name]) == (name in moved), name


def test_cli_reports_and_refuses(tmp_path, capsys):
  args = ["sample", "--examples", "20", "--seed", "1", "--shard-size", "10", "--real-images", "none"]
  assert cli.main(args + ["--output", str(tmp_path / "a"), "--mismatch-rate", "0.2"]) == 0
  assert "mismatched pairs: 4 " in capsys.readouterr().out
  assert cli.main(args + ["--output", str(tmp_path / "b"), "--mismatch-rate", "2"]) == 2
  assert "mismatch rate must be in [0, 1]" in capsys.readouterr().err
