"""`curate select` on a near-duplicate chain far longer than any fixed round count: one example kept."""

from __future__ import annotations

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.pipelines import annotation_tables
from webpairs import cli
from webpairs.formats import files

THRESHOLD = 10  # the shipped rule: phash and dhash both within 10 bits
CHAIN = 200


def _step(rng: np.random.Generator, value: int, keep_band: int) -> int:
  """`value` with 6 bits flipped outside one 16-bit LSH band, so the pair shares that band's bucket."""
  bits = rng.choice([b for b in range(64) if b // 16 != keep_band], 6, replace=False)
  return value ^ sum(1 << int(b) for b in bits)


def _chain(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
  """(phash, dhash) of n rows, each within the threshold of the next only."""
  rows = [(int(rng.integers(0, 2**63)), int(rng.integers(0, 2**63)))]
  while len(rows) < n:
    band = len(rows) % 4
    p, d = _step(rng, rows[-1][0], band), _step(rng, rows[-1][1], band)
    if all((p ^ q).bit_count() > THRESHOLD or (d ^ e).bit_count() > THRESHOLD for q, e in rows[:-1]):
      rows.append((p, d))
  return rows


def _near_graph(phash: list[int], dhash: list[int]) -> set[tuple[int, int]]:
  """Every pair of rows within the threshold, by brute force."""
  return {(i, j) for i in range(len(phash)) for j in range(i + 1, len(phash))
          if (phash[i] ^ phash[j]).bit_count() <= THRESHOLD and (dhash[i] ^ dhash[j]).bit_count() <= THRESHOLD}


def _plant(ann: pathlib.Path, rng: np.random.Generator) -> list[str]:
  """Writes 2 files of 200 rows; every other row (both files) is one chain. Returns the chain's keys."""
  annotation_tables.write_tables(ann, 2 * CHAIN, num_files=2, seed=3, exact_rate=0.0, near_rate=0.0,
                                 reject_rate=0.0)
  chain = _chain(rng, CHAIN)
  paths = sorted(ann.glob("annotations-*.parquet"))
  tables = [pq.read_table(p) for p in paths]
  phash = [int(h, 16) for t in tables for h in t.column("phash").to_pylist()]
  dhash = [int(h, 16) for t in tables for h in t.column("dhash").to_pylist()]
  for i, (p, d) in enumerate(chain):
    phash[2 * i], dhash[2 * i] = p, d
  assert _near_graph(phash, dhash) == {(2 * i, 2 * i + 2) for i in range(CHAIN - 1)}  # a chain, nothing else
  start = 0
  for path, table in zip(paths, tables):
    rows = slice(start, start + table.num_rows)
    start += table.num_rows
    for name, values in (("phash", phash), ("dhash", dhash)):
      column = pa.array([f"{v:016x}" for v in values[rows]])
      table = table.set_column(table.schema.get_field_index(name), name, column)
    pq.write_table(table, path)
  keys = [k for t in tables for k in t.column("key").to_pylist()]
  return [keys[2 * i] for i in range(CHAIN)]


def test_select_keeps_one_of_a_chain_of_200(tmp_path, capsys):
  ann, out = tmp_path / "ann", tmp_path / "sel"
  chain_keys = set(_plant(ann, np.random.default_rng(0)))
  assert cli.main(["curate", "select", "--annotations", str(ann), "--config", "raw", "--output", str(out),
                   "--no-progress", "--direct_num_workers=1"]) == 0
  capsys.readouterr()
  rows = [r for p in sorted(out.glob("selection-*.parquet")) for r in pq.read_table(p).to_pylist()]
  chain = [r for r in rows if r["key"] in chain_keys]
  assert len(rows) == 2 * CHAIN and len(chain) == CHAIN
  kept = [r for r in chain if r["keep"]]
  assert len(kept) == 1
  assert {r["cluster_id"] for r in chain} == {f"{kept[0]['source']}#{kept[0]['key']}"}
  assert {r["reason"] for r in chain if not r["keep"]} == {"near_dup"}
  assert all(r["keep"] for r in rows if r["key"] not in chain_keys)
  near = files.read_json(str(out / "summary.json"))["near_dup"]
  print(f"chain of {CHAIN}: {near['rounds']} component rounds of a budget of {near['round_budget']}")
  assert near["unconverged_nodes"] == 0 and 0 < near["rounds"] <= near["round_budget"]
