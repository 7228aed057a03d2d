"""Load any SentencePiece `.model` and apply it as big_vision's `tokenize` op does.

big_vision semantics (pp/ops_text.py): optional lower-casing, then tokens padded or cut
to `max_len`; eos='yes' appends EOS before cutting (so a long text loses it), eos='sticky'
cuts to max_len - 1 first so the last token of a long text is EOS. SigLIP pads
contrastive text with 1 (EOS in T5 ids) so last-token pooling sees EOS; generative
targets pad with 0 (<pad>).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sentencepiece as spm

EOS_MODES = ("none", "yes", "sticky")
MODEL_FILE = "spm.model"  # what `webpairs tokenizer train` writes into its output folder
LOC_FORMAT = "<loc{:04d}>"  # LocCa box-coordinate pieces


def _eos_mode(eos: str) -> str:
  eos = "none" if eos == "no" else eos  # big_vision spells it "no"
  if eos not in EOS_MODES:
    raise ValueError(f"eos must be one of {EOS_MODES} (or 'no'), got {eos!r}")
  return eos


def pack(ids: Sequence[Sequence[int]], max_len: int, *, eos: str, eos_id: int, pad_value: int) -> np.ndarray:
  """Token lists -> int32 [len(ids), max_len] with big_vision's EOS and padding rules."""
  eos = _eos_mode(eos)
  if max_len < 1:
    raise ValueError(f"max_len must be >= 1, got {max_len}")
  n = len(ids)
  limit = max_len - 1 if eos == "sticky" else max_len  # room left for text tokens
  lengths = np.fromiter(map(len, ids), np.int64, count=n)
  flat = np.fromiter(itertools.chain.from_iterable(ids), np.int32, count=int(lengths.sum()))
  kept = np.minimum(lengths, limit)
  if (lengths > limit).any():  # drop the tokens past `limit` in each row
    cols = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    flat = flat[cols < limit]
  # One boolean-mask store (row-major, like `flat`) instead of a Python loop over rows.
  out = np.full((n, max_len), pad_value, np.int32)
  out[np.arange(max_len) < kept[:, None]] = flat
  if eos != "none":
    room = kept < max_len  # eos='yes' loses EOS when the text fills max_len
    out[np.flatnonzero(room), kept[room]] = eos_id
  return out


class Tokenizer:
  """A SentencePiece model with batch tokenisation to fixed-length id arrays."""

  def __init__(self, model_proto: bytes, name: str = ""):
    self.model_proto = bytes(model_proto)
    self.name = name
    self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
    # Whether the normaliser adds a leading "▁" that decoding strips again.
    self._dummy_prefix = self.sp.normalize("a").startswith("\u2581")
    self._byte_lead = None

  @classmethod
  def load(cls, path: str | os.PathLike) -> "Tokenizer":
    """From a `.model` file (c4_en, mc4, Gemma's, ours) or a folder holding `spm.model`."""
    path = os.fspath(path)
    if os.path.isdir(path):
      path = os.path.join(path, MODEL_FILE)
    with open(path, "rb") as f:
      return cls(f.read(), name=path)

  @property
  def sha256(self) -> str:
    return hashlib.sha256(self.model_proto).hexdigest()

  @property
  def vocab_size(self) -> int:
    return self.sp.get_piece_size()

  @property
  def pad_id(self) -> int:
    return self.sp.pad_id()

  @property
  def eos_id(self) -> int:
    return self.sp.eos_id()

  @property
  def unk_id(self) -> int:
    return self.sp.unk_id()

  @property
  def bos_id(self) -> int:
    return self.sp.bos_id()

  def piece_to_id(self, piece: str) -> int:
    return self.sp.piece_to_id(piece)

  def id_to_piece(self, i: int) -> str:
    return self.sp.id_to_piece(i)

  def loc_id(self, k: int) -> int:
    """Id of the LocCa piece `<loc{k:04d}>`; KeyError if the model has none."""
    piece = LOC_FORMAT.format(k)
    i = self.sp.piece_to_id(piece)
    if self.id_to_piece(i) != piece:
      raise KeyError(f"{self.name or 'tokenizer'} has no piece {piece}")
    return i

  def normalize(self, text: str) -> str:
    """The text the model sees after its normaliser: what decode(encode(text)) returns."""
    out = self.sp.normalize(text).replace("\u2581", " ")
    return out[1:] if self._dummy_prefix and out.startswith(" ") else out

  def encode(self, texts: Sequence[str], *, lower: bool = False, num_threads: int = 1) -> list[list[int]]:
    """Ragged ids without BOS/EOS, one list per text."""
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in texts]
    if lower:
      texts = [t.lower() for t in texts]
    return self.sp.encode(texts, out_type=int, num_threads=num_threads)

  def tokenize(
      self,
      texts: Sequence[str],
      max_len: int,
      *,
      eos: str = "sticky",
      pad_value: int | str = "<pad>",
      lower: bool = False,
      num_threads: int = 1,
  ) -> np.ndarray:
    """int32 [len(texts), max_len]: pad_value 1 for contrastive text, 0 (<pad>) for targets."""
    if _eos_mode(eos) != "none" and self.eos_id < 0:
      raise ValueError(f"{self.name or 'the tokenizer'} has no EOS piece; use eos='none'")
    return pack(self.encode(texts, lower=lower, num_threads=num_threads), max_len,
                eos=eos, eos_id=self.eos_id, pad_value=self.pad_value(pad_value))

  def pad_value(self, value: int | str) -> int:
    """An id, or a piece such as '<pad>' or '</s>' resolved to its id."""
    if isinstance(value, str):
      i = self.sp.piece_to_id(value)
      if self.id_to_piece(i) != value:
        raise KeyError(f"pad_value {value!r} is not a piece of {self.name or 'the tokenizer'}")
      return i
    return int(value)

  def decode(self, ids: Sequence[int] | np.ndarray) -> str | list[str]:
    """Text of one id row (str) or of each row of a 2-d array (list). Stops at the first EOS."""
    arr = np.asarray(ids)
    if arr.ndim == 2:
      return [self.decode(row) for row in arr]
    row = [int(i) for i in arr]
    if self.eos_id >= 0 and self.eos_id in row:
      row = row[: row.index(self.eos_id)]
    return self.sp.decode([i for i in row if i != self.pad_id])

  def byte_lead_mask(self) -> np.ndarray:
    """bool [vocab]: byte-fallback pieces that start a UTF-8 character (one per fallback char)."""
    if self._byte_lead is None:
      mask = np.zeros(self.vocab_size, bool)
      for i in range(self.vocab_size):
        if self.sp.is_byte(i):
          mask[i] = (int(self.id_to_piece(i)[3:5], 16) & 0xC0) != 0x80
      self._byte_lead = mask
    return self._byte_lead


def get_pp_tokenize(
    model: str | os.PathLike | Tokenizer,
    max_len: int,
    eos: str,
    *,
    lower: bool = True,
    pad_value: int | str = "<pad>",
    inkey: str = "text",
    outkey: str = "labels",
    num_threads: int = 1,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
  """big_vision-style op: data[outkey] = tokens of data[inkey] (one text or a batch of them).

  Defaults follow big_vision's `tokenize` op; SigLIP's text tower uses
  `eos="sticky", pad_value=1, inkey="texts"`. Lower-casing is Unicode-aware (Python
  str.lower), where big_vision's tf.strings.lower only lower-cases ASCII.
  """
  tok = model if isinstance(model, Tokenizer) else Tokenizer.load(model)
  eos = _eos_mode(eos)
  pad = tok.pad_value(pad_value)

  def _pp_tokenize(data: dict[str, Any]) -> dict[str, Any]:
    text = data[inkey]
    single = isinstance(text, (str, bytes)) or (isinstance(text, np.ndarray) and text.ndim == 0)
    texts = [text.item() if isinstance(text, np.ndarray) else text] if single else list(text)
    tokens = tok.tokenize(texts, max_len, eos=eos, pad_value=pad, lower=lower, num_threads=num_threads)
    return {**data, outkey: tokens[0] if single else tokens}

  return _pp_tokenize
