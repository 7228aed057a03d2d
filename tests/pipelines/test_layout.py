"""Curated-shard layout: safe and unique keys, start indices, repeat placement."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from webpairs.formats import curated
from webpairs.pipelines.materialize import layout

_WDS_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def test_safe_keys_stay_and_others_get_a_hash_of_the_original():
  assert layout.safe_key("000123") == "000123"
  assert layout.safe_key("a-b_C") == "a-b_C"
  escaped = [layout.safe_key(k) for k in ("dir/sub/x.y", "dir_sub_x_y_", "", "日本", "中文")]
  assert escaped[0].startswith("dir_sub_x_y_") and len(escaped[0]) == len("dir_sub_x_y_") + 8
  assert len(set(escaped)) == len(escaped)  # non-ASCII keys do not all collapse to "__"
  assert all(_WDS_SAFE.match(k) for k in escaped)


def test_keys_that_look_like_repeats_are_escaped():
  assert layout.safe_key("img_r") == "img_r"
  assert layout.safe_key("img_r1").startswith("img_r1_")
  assert layout.copy_key("img", 1) == "img_r1"
  assert layout.copy_key("img", 1) != layout.safe_key("img_r1")


def test_a_lone_example_keeps_its_key_and_shared_keys_get_a_source_hash():
  assert layout.assign_bases("k", [("a.tar", 0)]) == {("a.tar", 0): "k"}
  shared = layout.assign_bases("k", [("b.tar", 3), ("a.tar", 0)])
  assert shared == {("a.tar", 0): layout.disambiguated("k", "a.tar", 0),
                    ("b.tar", 3): layout.disambiguated("k", "b.tar", 3)}
  assert len(set(shared.values())) == 2
  assert layout.assign_bases("k", [("a.tar", 0), ("b.tar", 3)]) == shared  # order does not matter


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a.tar", "b.tar"]), st.integers(0, 5),
                          st.text(alphabet="ab_r1./", min_size=0, max_size=5), st.integers(1, 3)),
                min_size=1, max_size=25, unique_by=lambda t: (t[0], t[1])))
def test_every_copy_gets_a_unique_safe_key(examples):
  groups: dict[str, list] = {}
  for source, offset, key, repeat in examples:
    groups.setdefault(layout.safe_key(key), []).append((source, offset, repeat))
  names = []
  for base, members in groups.items():
    bases = layout.assign_bases(base, [(s, o) for s, o, _ in members])
    for source, offset, repeat in members:
      names += [layout.copy_key(bases[(source, offset)], c) for c in range(repeat)]
  assert len(names) == len(set(names)) == sum(r for *_, r in examples)
  assert all(_WDS_SAFE.match(n) for n in names)


def test_start_indices_are_prefix_sums_in_source_order():
  assert layout.start_indices([("b", 2), ("a", 3), ("c", 0), ("d", 1)]) == {"a": 0, "b": 3, "c": 5, "d": 5}


def test_repeats_land_after_the_first_copy_shards():
  first, repeats = layout.shard_counts(first_copies=10, repeats=5, shard_size=4)
  assert (first, repeats) == (3, 2)
  placed = {layout.repeat_shard(layout.spread_hash("a.tar", o, c), first, repeats)
            for o in range(50) for c in (1, 2)}
  assert placed == {3, 4}


def test_shard_names():
  assert curated.shard_stem("shard", 7) == "shard-00007"
  pattern = curated.shard_name_pattern("shard")
  assert pattern.match("shard-00007.tar") and pattern.match("shard-00007.parquet")
  assert not pattern.match("shard-00007.tar.tmp") and not pattern.match("other-00007.tar")
