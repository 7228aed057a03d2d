"""Train and load SentencePiece tokenizers from curated shards."""

from webpairs.tokenizers.tokenizer import Tokenizer, get_pp_tokenize, pack
from webpairs.tokenizers.train import train_tokenizer

__all__ = ["Tokenizer", "get_pp_tokenize", "pack", "train_tokenizer"]
