"""Select shuffles metadata only: bytes through its GroupByKeys per input row, from Beam counters."""

from __future__ import annotations

from tests.pipelines import annotation_tables
from webpairs.pipelines.select import select as select_job

ROWS = 4000
BANDS = 8  # 64 / band_bits 16, of phash and of dhash
HASH_ROW = 8 + 8 + 2  # a row in an LSH band batch: phash, dhash (int64), its row (uint16; the file once a batch)


def test_select_shuffle_bytes_per_row_are_metadata(tmp_path):
  planted = annotation_tables.write_tables(tmp_path / "ann", ROWS, num_files=4, seed=2, boilerplate_rate=0.01)
  summary = select_job.run_select(str(tmp_path / "ann"), "en90", str(tmp_path / "sel"), ["--direct_num_workers=1"],
                                  show_progress=False)
  shuffle = summary["shuffle"]
  print(f"select shuffle, {ROWS} rows: {shuffle['bytes_per_row']} bytes/row {shuffle['per_row']}")
  assert set(shuffle["bytes"]) == {"GroupSha", "GroupBands", "GroupCaptions", "Components", "JoinComps",
                                   "GroupComps", "JoinFile"}
  assert shuffle["total_bytes"] == sum(shuffle["bytes"].values())
  # LSH bands: every row with hashes once per band, plus pickling a few dozen batches.
  with_hashes = int((planted.statuses == "ok").sum() + (planted.statuses == "empty_caption").sum())
  assert BANDS * HASH_ROW * with_hashes / ROWS < shuffle["per_row"]["GroupBands"] < BANDS * HASH_ROW + 8
  # Everything: a few hundred bytes per row, against the images' 1,000-500,000 bytes each.
  assert 0 < shuffle["bytes_per_row"] < 320
