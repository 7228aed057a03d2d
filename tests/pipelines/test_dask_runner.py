"""select on a dask.distributed cluster of worker processes equals FnApiRunner byte for byte (WEBPAIRS_SLOW=1).

benchmarks/dask_engine.py does the same for annotate, select and materialize on sample shards.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.pipelines import annotation_tables
from webpairs.pipelines.select import select as select_job

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")]


def _digests(folder) -> dict[str, str]:
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_select_on_dask_equals_fnapi(tmp_path):
  distributed = pytest.importorskip("dask.distributed")
  annotation_tables.write_tables(tmp_path / "ann", 3000, num_files=3, seed=1, boilerplate_rate=0.01)
  out = tmp_path / "sel"
  local = select_job.run_select(str(tmp_path / "ann"), "en90", str(out), ["--direct_num_workers=1"],
                                show_progress=False)
  expected = _digests(out)
  with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
    remote = select_job.run_select(str(tmp_path / "ann"), "en90", str(out), [
        "--runner=webpairs.pipelines.runtime.dask_runner.DaskRunner", f"--dask_client_address={cluster.scheduler_address}"],
                                   show_progress=False, overwrite=True)
  assert remote["shuffle"] is None  # the Dask runner has no metrics
  assert remote["kept"] == local["kept"] and _digests(out) == expected
  assert len(expected) == 4  # three selection files and the summary
