"""big_vision tokenize semantics (fixed length, EOS modes, pad values) and the Tokenizer API."""

from __future__ import annotations

import random

import numpy as np
import pytest

from webpairs.tokenizers import Tokenizer, get_pp_tokenize, pack
from webpairs.tokenizers.train import train_spm

EOS = 1


def _pack(ids, max_len, eos, pad=0):
  return pack(ids, max_len, eos=eos, eos_id=EOS, pad_value=pad).tolist()


@pytest.mark.parametrize("ids, max_len, eos, pad, expected", [
    # "aaa" as three tokens at max_len 3: sticky keeps the final EOS, 'yes' cuts it off.
    ([[7, 7, 7]], 3, "sticky", 0, [[7, 7, 1]]),
    ([[7, 7, 7]], 3, "yes", 0, [[7, 7, 7]]),
    ([[7, 7, 7]], 3, "none", 0, [[7, 7, 7]]),
    ([[7, 7, 7, 8, 9]], 3, "sticky", 1, [[7, 7, 1]]),
    # Fits with room for EOS: all modes but 'none' append it, then pad.
    ([[7, 8]], 3, "yes", 0, [[7, 8, 1]]),
    ([[7, 8]], 3, "sticky", 0, [[7, 8, 1]]),
    ([[7]], 4, "sticky", 0, [[7, 1, 0, 0]]),
    ([[7]], 4, "sticky", 1, [[7, 1, 1, 1]]),  # SigLIP contrastive text: pad with EOS
    ([[7]], 4, "none", 0, [[7, 0, 0, 0]]),
    ([[7]], 4, "no", 0, [[7, 0, 0, 0]]),  # big_vision's spelling
    ([[]], 3, "sticky", 0, [[1, 0, 0]]),
    ([[]], 3, "none", 0, [[0, 0, 0]]),
    ([[7, 8]], 1, "sticky", 0, [[1]]),
    ([[7, 8]], 1, "yes", 0, [[7]]),
    # Ragged batch: each row on its own.
    ([[5, 6, 7, 8], [], [9]], 3, "sticky", 0, [[5, 6, 1], [1, 0, 0], [9, 1, 0]]),
    ([[5, 6, 7, 8], [], [9]], 3, "yes", 0, [[5, 6, 7], [1, 0, 0], [9, 1, 0]]),
])
def test_pack_matches_big_vision(ids, max_len, eos, pad, expected):
  assert _pack(ids, max_len, eos, pad) == expected


def test_pack_rejects_bad_arguments():
  with pytest.raises(ValueError):
    _pack([[1]], 3, "always")
  with pytest.raises(ValueError):
    _pack([[1]], 0, "sticky")


def test_pack_matches_a_row_loop_on_random_batches():
  rng = np.random.default_rng(0)
  for _ in range(20):
    ids = [list(rng.integers(3, 100, rng.integers(0, 12))) for _ in range(rng.integers(1, 30))]
    max_len, eos, pad = int(rng.integers(1, 10)), str(rng.choice(["none", "yes", "sticky"])), int(rng.integers(0, 2))
    expected = np.full((len(ids), max_len), pad)
    for i, row in enumerate(ids):
      row = row[: max_len - 1] + [EOS] if eos == "sticky" else (row + [EOS] if eos == "yes" else row)[:max_len]
      expected[i, : len(row)] = row
    assert _pack(ids, max_len, eos, pad) == expected.tolist()


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  rng = random.Random(0)
  alphabets = ["abcdefghijklmnop", "абвгдежзийклмноп", "あいうえおかきくけこさしすせそ"]
  words = [[''.join(rng.choice(a) for _ in range(rng.randint(2, 7))) for _ in range(60)] for a in alphabets]
  sentences = [" ".join(rng.choice(words[i % 3]) for _ in range(rng.randint(3, 9))) for i in range(900)]
  path = tmp_path_factory.mktemp("tok") / "spm.model"
  path.write_bytes(train_spm(sentences, 450, loc_tokens=4, num_threads=1))
  return Tokenizer.load(path)


def test_t5_ids_and_loading(tok, tmp_path):
  assert (tok.pad_id, tok.eos_id, tok.unk_id, tok.bos_id) == (0, 1, 2, -1)
  assert tok.vocab_size == 450
  assert tok.pad_value("<pad>") == 0 and tok.pad_value("</s>") == 1 and tok.pad_value(1) == 1
  with pytest.raises(KeyError):
    tok.pad_value("<nope>")
  (tmp_path / "spm.model").write_bytes(tok.model_proto)
  assert Tokenizer.load(tmp_path).sha256 == tok.sha256  # a folder holding spm.model
  assert [tok.id_to_piece(tok.loc_id(k)) for k in range(4)] == ["<loc0000>", "<loc0001>", "<loc0002>", "<loc0003>"]
  with pytest.raises(KeyError):
    tok.loc_id(4)


def test_sticky_eos_on_real_text(tok):
  text = "abc defg hij klm nop"
  n = len(tok.encode([text])[0])
  assert n > 3
  sticky = tok.tokenize([text, "aaa"], 3, eos="sticky", pad_value=1)
  assert sticky[0, -1] == tok.eos_id and sticky[1, -1] == tok.eos_id
  assert tok.tokenize([text], 3, eos="yes")[0, -1] != tok.eos_id
  full = tok.tokenize([text], n + 3, eos="yes", pad_value=0)[0]
  assert full[n] == tok.eos_id and list(full[n + 1:]) == [0, 0]
  assert tok.decode(full) == text


def test_decode_stops_at_eos_and_drops_padding(tok):
  texts = ["abc def", "где мой кот", "かきく さし", ""]
  for pad in (0, 1):
    arr = tok.tokenize(texts, 16, eos="sticky", pad_value=pad)
    assert arr.dtype == np.int32 and arr.shape == (4, 16)
    assert tok.decode(arr) == [tok.normalize(t) for t in texts]


def test_lower_and_bytes(tok):
  upper = tok.tokenize(["ABC Где"], 8, lower=True)
  assert np.array_equal(upper, tok.tokenize(["abc где"], 8))
  assert np.array_equal(tok.tokenize([b"abc"], 8), tok.tokenize(["abc"], 8))


def test_pp_op_single_and_batch(tok):
  op = get_pp_tokenize(tok, 6, "sticky", pad_value=1, inkey="texts")
  out = op({"texts": "ABC def", "image": 0})
  assert out["image"] == 0 and out["labels"].shape == (6,)
  assert np.array_equal(out["labels"], tok.tokenize(["abc def"], 6, pad_value=1)[0])
  batch = op({"texts": np.array(["abc", "ДЕФ"])})["labels"]
  assert batch.shape == (2, 6) and tok.decode(batch) == ["abc", "деф"]
  assert get_pp_tokenize(tok, 4, "no")({"text": "a"})["labels"].tolist()[-1] == 0


def test_foreign_model_with_gemma_conventions():
  # Gemma-style: identity normaliser, no dummy prefix, pad 0, eos 1, bos 2, unk 3, BPE.
  import io

  import sentencepiece as spm
  rng = random.Random(2)
  sentences = [" ".join("".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 5))) for _ in range(8))
               for _ in range(400)]
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences), model_writer=model, vocab_size=400, model_type="bpe", byte_fallback=True,
      pad_id=0, eos_id=1, bos_id=2, unk_id=3, normalization_rule_name="identity", add_dummy_prefix=False,
      remove_extra_whitespaces=False, minloglevel=2, num_threads=1)
  tok = Tokenizer(model.getvalue(), name="gemma-like")
  assert (tok.pad_id, tok.eos_id, tok.bos_id, tok.unk_id) == (0, 1, 2, 3)
  for text in ["  two  spaces ", "abc Ｄ", "ab\u2581cd"]:
    assert tok.decode(tok.encode([text])[0]) == tok.normalize(text)
  assert tok.normalize("  two  spaces ") == "  two  spaces "  # no whitespace folding here
  row = tok.tokenize(["abc def ghi jab"], 3, eos="sticky", pad_value=0)[0]
  assert row[-1] == 1 and tok.bos_id not in row
