"""Select shuffles metadata only: bytes through its GroupByKeys per input row, from Beam counters."""

from __future__ import annotations

import pytest

from tests.pipelines import annotation_tables
from webpairs.configs.curation import load_curation_config
from webpairs.curation import image
from webpairs.pipelines.select import select as select_job

ROWS = 4000
BANDS = 8  # 64 / band_bits 16, of phash and of dhash
HASH_ROW = 8 + 8 + 2  # a row in an LSH band batch: phash, dhash (int64), its row (uint16; the file once a batch)
ASPECT = 1  # with windows, rows of window bands' batches (content and window entries) carry an int8 aspect code
CONTENT_DHASH = 8  # a corner window's entry carries its image's content dHash (dedup.corner_pairs' guard)


@pytest.mark.parametrize("windows,stride", [(True, 2), (True, 4), (False, 2)])
def test_select_shuffle_bytes_per_row_are_metadata(tmp_path, windows, stride):
  planted = annotation_tables.write_tables(tmp_path / "ann", ROWS, num_files=4, seed=2, boilerplate_rate=0.01)
  config = load_curation_config("en90")
  config.dedup.windows = windows
  config.dedup.window_band_stride = stride
  summary = select_job.run_select(str(tmp_path / "ann"), config, str(tmp_path / "sel"), ["--direct_num_workers=1"],
                                  show_progress=False)
  shuffle = summary["shuffle"]
  print(f"select shuffle, {ROWS} rows, windows {windows} stride {stride}: {shuffle['bytes_per_row']} bytes/row {shuffle['per_row']}")
  assert set(shuffle["bytes"]) == {"GroupSha", "GroupBands", "GroupCaptions", "Components", "JoinComps",
                                   "GroupComps", "JoinFile"}
  assert shuffle["total_bytes"] == sum(shuffle["bytes"].values())
  # LSH bands: every row with hashes once per band, and with windows each of its grid windows once per
  # window band (every stride-th) and an aspect code with the row and with each window there, each of
  # its corner windows once in that corner's keys (dedup.corner_keys) with an aspect code and the content
  # dHash, plus pickling a few dozen batches.
  grid = image.N_GRID_WINDOWS
  per_hashed = BANDS * HASH_ROW + (BANDS // stride * ((1 + grid) * ASPECT + grid * HASH_ROW)
                                   + image.N_CORNERS * (HASH_ROW + ASPECT + CONTENT_DHASH) if windows else 0)
  with_hashes = int((planted.statuses == "ok").sum() + (planted.statuses == "empty_caption").sum())
  assert per_hashed * with_hashes / ROWS < shuffle["per_row"]["GroupBands"] < per_hashed + 8
  # Everything else: under 180 bytes per row (measured 136-137); all of it against the images' 1,000-500,000 bytes each.
  assert 0 < shuffle["bytes_per_row"] - shuffle["per_row"]["GroupBands"] < 180
