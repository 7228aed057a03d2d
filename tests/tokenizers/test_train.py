"""Training from curated shards: round trips, loc pieces, determinism, fertility under temperature, CLI."""

from __future__ import annotations

import json
import random

import pytest

from tests.tokenizers.curated import as_rows, real_captions, write_curated
from webpairs import cli
from webpairs.tokenizers import Tokenizer, stats, train_tokenizer

LOC = 100
ARGS = dict(vocab_size=4000, temperature=0.3, loc_tokens=LOC, sample=6000, seed=0, num_threads=2)


@pytest.fixture(scope="module")
def captions(shared_data):
  return real_captions(shared_data)


@pytest.fixture(scope="module")
def shard_glob(captions, tmp_path_factory):
  folder = tmp_path_factory.mktemp("curated")
  write_curated(folder, as_rows(captions), shards=4, sidecars=(True, False))  # both readers
  return str(folder / "*.tar")


@pytest.fixture(scope="module")
def trained(shard_glob, tmp_path_factory):
  out = tmp_path_factory.mktemp("tok")
  info = train_tokenizer(shard_glob, out, **ARGS)
  return out, info, Tokenizer.load(out)


def test_round_trip_every_caption_without_unknowns(trained, captions):
  _, _, tok = trained
  texts = [t for lang in sorted(captions) for t in captions[lang]]
  assert len(texts) > 15_000
  ids = tok.encode(texts)
  assert not any(tok.unk_id in row for row in ids)
  bad = [(t, tok.decode(row)) for t, row in zip(texts, ids) if tok.decode(row) != tok.normalize(t)]
  assert not bad, bad[:5]
  # Characters never seen in training still come back, through byte fallback.
  assert tok.decode(tok.encode(["𓀀 ꯀ ᚠ"])[0]) == "𓀀 ꯀ ᚠ"


def test_loc_tokens_are_single_pieces(trained):
  _, info, tok = trained
  assert info["loc_tokens"] == LOC and info["loc_first_id"] == tok.loc_id(0)
  locs = [tok.loc_id(k) for k in range(LOC)]
  assert locs == list(range(locs[0], locs[0] + LOC))
  for k in (0, 7, 42, LOC - 1):
    assert tok.encode([f"<loc{k:04d}>"])[0][-1:] == [tok.loc_id(k)]
  text = "<loc0012><loc0034><loc0056><loc0099> a dog"
  ids = tok.tokenize([text], 16, eos="sticky")[0]
  assert [tok.loc_id(k) for k in (12, 34, 56, 99)] == [i for i in ids if i in set(locs)]
  assert tok.decode(ids) == text


def test_tokenizer_json(trained, captions):
  out, info, tok = trained
  assert json.loads((out / "tokenizer.json").read_text()) == info
  assert info["sha256"] == tok.sha256 and info["vocab_size"] == 4000 == tok.vocab_size
  langs = info["languages"]
  assert sorted(langs) == sorted(captions)
  assert {lang: v["captions"] for lang, v in langs.items()} == {lang: len(c) for lang, c in captions.items()}
  assert sum(v["sampled"] for v in langs.values()) == 6000
  assert all(0.3 < v["fertility"] < 2.0 and 0.9 < v["coverage"] <= 1.0 for v in langs.values())
  assert info["ids"] == {"pad": 0, "eos": 1, "unk": 2, "bos": -1}


def test_same_input_and_seed_give_identical_files(trained, shard_glob, tmp_path):
  out, _, _ = trained
  train_tokenizer(shard_glob, tmp_path, **ARGS)
  assert (tmp_path / "spm.model").read_bytes() == (out / "spm.model").read_bytes()
  assert (tmp_path / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes()


def test_low_temperature_evens_out_fertility_on_a_skewed_mix(captions, tmp_path):
  # 90% English: 1400 English captions, 22 in each other language; held-out text to measure.
  pool = {lang: c[:1400] if lang == "en" else c[:22] for lang, c in captions.items()}
  held_out = {lang: c[1500:] for lang, c in captions.items()}
  write_curated(tmp_path / "skewed", as_rows(pool), shards=2, sidecars=(True,))
  spread = {}
  for t in (1.0, 0.3):
    out = tmp_path / f"t{t}"
    info = train_tokenizer(tmp_path / "skewed", out, 2000, temperature=t, sample=3000, num_threads=2)
    assert info["languages"]["en"]["captions"] == 1400
    per_lang = stats.stats_by_language(Tokenizer.load(out), held_out)
    spread[t] = stats.fertility_spread(per_lang)
    print(f"T={t}: worst/best fertility {spread[t]:.3f}; sampled "
          + ", ".join(f"{lang}={v['sampled']}" for lang, v in info["languages"].items()) + "; tokens/char "
          + ", ".join(f"{lang}={s.fertility:.3f}" for lang, s in per_lang.items()))
  assert spread[0.3] < spread[1.0]


def test_cli_trains_from_synthetic_shards(tmp_path, capsys):
  rng = random.Random(1)
  scripts = {"en": "abcdefghijklmnopqrstuvwxyz", "ru": "абвгдежзийклмнопрстуфхцчшщ", "ja": "あいうえおかきくけこさしすせそ"}
  rows = [(" ".join("".join(rng.choice(scripts[lang]) for _ in range(rng.randint(2, 6))) for _ in range(8)), lang)
          for lang in scripts for _ in range(200)] + [("no language", None)]
  write_curated(tmp_path / "shards", rows, shards=3, sidecars=(False, True))
  argv = ["tokenizer", "train", "--shards", str(tmp_path / "shards" / "*.tar"), "--vocab-size", "500",
          "--output", str(tmp_path / "out"), "--sample", "400", "--loc-tokens", "8", "--threads", "1"]
  assert cli.main(argv) == 0
  captured = capsys.readouterr()
  for step in ("counting captions in 3 shard(s)", "read 601 captions", "sampling 400", "training unigram"):
    assert step in captured.err
  info = json.loads((tmp_path / "out" / "tokenizer.json").read_text())
  assert info["sha256"] in captured.out and info["loc_tokens"] == 8 and info["languages"]["und"]["captions"] == 1
  assert Tokenizer.load(tmp_path / "out").vocab_size == 500


def test_cli_reports_user_errors(tmp_path, capsys):
  argv = ["tokenizer", "train", "--shards", str(tmp_path / "*.tar"), "--vocab-size", "1000", "--output", str(tmp_path)]
  assert cli.main(argv) == 2
  assert "no curated shards" in capsys.readouterr().err
  write_curated(tmp_path, [("a b c", "en")] * 5)
  assert cli.main(argv) == 2
  assert "Vocabulary size too high" in capsys.readouterr().err
  assert not (tmp_path / "spm.model").exists()
