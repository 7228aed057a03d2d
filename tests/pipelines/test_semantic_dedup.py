"""SemDeDup in Beam on constructed embeddings: the same duplicates as a brute-force pass over all pairs."""

from __future__ import annotations

import hashlib
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webpairs import cli
from webpairs.curation import semantic
from webpairs.pipelines.score import score_files
from webpairs.pipelines.score import semantic_dedup as sd

ONE_WORKER = ["--direct_num_workers=1"]


def _write_scores(folder: pathlib.Path, seed: int, files: int = 3, groups: int = 12, dim: int = 16) -> None:
  """Groups of 1-4 near-identical unit vectors (cosine > 0.99 within, ~0 across) spread over `files` score files,
  plus a few rows without an embedding (annotate rejects)."""
  rng = np.random.default_rng(seed)
  centres = semantic.normalise(rng.normal(size=(groups, dim)))
  rows = []
  for g in range(groups):
    for m in range(int(rng.integers(1, 5))):
      v = semantic.normalise(centres[g] + rng.normal(scale=0.01, size=dim))
      rows.append((f"g{g:02d}m{m}", float(rng.normal()), v))
  rows += [(f"rejected{i}", None, None) for i in range(3)]
  order = rng.permutation(len(rows))
  folder.mkdir(parents=True)
  for f in range(files):
    part = [rows[i] for i in order[f::files]]
    arrays = [pa.array(list(range(len(part))), pa.int64()), pa.array([r[0] for r in part]),
              pa.array([r[1] for r in part], pa.float32()), pa.array([None] * len(part), pa.float32()),
              pa.array([None if r[1] is not None else "corrupt_image" for r in part]),
              score_files.embedding_column([r[2] for r in part], dim),
              score_files.embedding_column([r[2] for r in part], dim)]
    pq.write_table(pa.Table.from_arrays(arrays, schema=score_files.schema(True)),
                   folder / f"{score_files.SCORES_PREFIX}{f:03d}.parquet")


def _brute_force(folder: pathlib.Path, threshold: float) -> dict[str, str | None]:
  """Every pair, no clusters: a row is a duplicate of the highest-ranked row before it above the threshold."""
  ids, scores, embs = [], [], []
  for path in sorted(folder.glob(f"{score_files.SCORES_PREFIX}*.parquet")):
    for r in pq.read_table(path).to_pylist():
      if r["image_embedding"] is not None:
        ids.append((path.name, r["key"]))
        scores.append(r["score"])
        embs.append(np.asarray(r["image_embedding"], np.float32))
  unit = semantic.normalise(np.stack(embs))
  order = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
  out = {}
  for pos, i in enumerate(order):
    before = [j for j in order[:pos] if float(unit[i] @ unit[j]) > threshold]
    out[f"{ids[i][0]}/{ids[i][1]}"] = None if not before else f"{ids[before[0]][0]}/{ids[before[0]][1]}"
  return out


def _result(folder: pathlib.Path) -> dict[str, str | None]:
  out = {}
  for path in sorted(folder.glob(f"{sd.PREFIX}*.parquet")):
    for r in pq.read_table(path).to_pylist():
      assert (r["reason"] is None) == (r["duplicate_of"] is None)
      out[f"{path.name[len(sd.PREFIX):]}/{r['key']}"] = r["duplicate_of"]
  return out


@pytest.mark.parametrize("seed", [0, 1])
def test_equals_brute_force_and_is_deterministic(tmp_path, seed):
  _write_scores(tmp_path / "scores", seed)
  want = _brute_force(tmp_path / "scores", 0.95)
  summary = sd.run_semantic_dedup(str(tmp_path / "scores"), str(tmp_path / "a"), ONE_WORKER, clusters=4,
                                  threshold=0.95, iterations=5)
  got = _result(tmp_path / "a")
  assert got == want
  dups = sum(v is not None for v in want.values())
  assert summary["examples"] == len(want) and summary[sd.SEMANTIC_DUP] == dups > 0
  # Each group keeps exactly one row: its highest-scoring one.
  assert len(want) - dups == 12
  sd.run_semantic_dedup(str(tmp_path / "scores"), str(tmp_path / "b"), ["--direct_num_workers=2",
                        "--direct_running_mode=multi_threading"], clusters=4, threshold=0.95, iterations=5)
  digest = lambda folder: {p.name: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
                           for p in sorted(folder.glob(f"{sd.PREFIX}*"))}
  assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_cluster_duplicates_rule():
  emb = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [1, 0.02]], np.float32)
  ids = [("f", str(i)) for i in range(5)]
  # Rank by score: 4 (0.9) > 0 (0.5) > 1 (0.1); 2 (0.3) > 3 (None, last).
  assert semantic.cluster_duplicates(emb, [0.5, 0.1, 0.3, None, 0.9], ids, 0.99) == [4, 4, None, 2, None]
  assert semantic.cluster_duplicates(emb, [0.5, 0.1, 0.3, None, 0.9], ids, 1.0) == [None] * 5


def test_kmeans_sums_are_exact_in_any_order():
  rng = np.random.default_rng(3)
  emb = rng.normal(size=(50, 8)).astype(np.float32)
  cent = semantic.normalise(emb[:3])
  whole = semantic.partial_sums(emb, cent)
  parts = [semantic.partial_sums(emb[i::4], cent) for i in (3, 1, 0, 2)]
  assert np.array_equal(sum(p[0] for p in parts), whole[0]) and np.array_equal(sum(p[1] for p in parts), whole[1])
  assert whole[1].sum() == 50


def test_cli(tmp_path, capsys):
  _write_scores(tmp_path / "scores", 2)
  assert cli.main(["curate", "semdedup", "--scores", str(tmp_path / "scores"), "--output", str(tmp_path / "out"),
                   "--clusters", "3", "--threshold", "0.95", "--direct_num_workers=1"]) == 0
  assert "semantic duplicates" in capsys.readouterr().out
  assert _result(tmp_path / "out") == _brute_force(tmp_path / "scores", 0.95)
  with pytest.raises(FileNotFoundError, match="no scores-"):
    sd.run_semantic_dedup(str(tmp_path / "out"), str(tmp_path / "x"), ONE_WORKER)
