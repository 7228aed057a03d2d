"""A tokenizer that travels to grain's worker processes as its SentencePiece bytes and loads once in each."""

from __future__ import annotations

from typing import Any

from webpairs.tokenizers import Tokenizer


class WorkerTokenizer:
  """Base of the batch maps that tokenise: pickles the model proto, not the loaded processor."""

  def __init__(self, tokenizer: Tokenizer):
    self.proto, self.name = tokenizer.model_proto, tokenizer.name
    self._tok: Tokenizer | None = None

  def __getstate__(self) -> dict[str, Any]:
    return {k: v for k, v in self.__dict__.items() if k != "_tok"}

  def __setstate__(self, state: dict[str, Any]) -> None:
    self.__dict__.update(state)
    self._tok = None

  @property
  def tokenizer(self) -> Tokenizer:
    if self._tok is None:
      self._tok = Tokenizer(self.proto, self.name)
    return self._tok
