"""The tiny SigLIP learns from `webpairs sample` scenes: held-out image->text R@1 at least 5x chance (WEBPAIRS_SLOW=1).

About 5 minutes on two CPU cores: it runs benchmarks/learn_tiny.py. The CI-sized check
that the loss falls is in test_trainer.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")


@pytest.mark.slow
@SLOW
def test_tiny_model_retrieves_held_out_pairs_well_above_chance(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learn_tiny.py"), "--workdir", str(tmp_path)],
                        cwd=ROOT, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  print(result)
  assert result["held_out_pairs"] >= 400
  assert result["img2txt_r1"] >= 5 * result["chance_r1"], result
  assert result["txt2img_r1"] >= 5 * result["chance_r1"], result
