"""Train a multilingual SentencePiece unigram model (byte fallback, T5 ids) on curated shards."""

from __future__ import annotations

import collections
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sentencepiece as spm

from webpairs.tokenizers import sampling, shards, stats
from webpairs.tokenizers.tokenizer import LOC_FORMAT, MODEL_FILE, Tokenizer

INFO_FILE = "tokenizer.json"
FORMAT = "webpairs.tokenizer/1"
DEFAULT_TEMPERATURE = 0.3
DEFAULT_SAMPLE = 1_000_000  # captions; fewer when the shards hold fewer
# The model depends on the thread count (E-step sums are split per thread), so it is a
# fixed number, never the machine's core count: same input, seed and threads -> same bytes.
DEFAULT_THREADS = 4
STATS_CAPTIONS = 1000  # distinct sampled captions per language for fertility and coverage
T5_IDS = {"pad": 0, "eos": 1, "unk": 2, "bos": -1}
_SPECIAL_AND_BYTES = 3 + 256
_PROGRESS_EVERY = 1_000_000

Log = Callable[[str], None]


def _quiet(_: str) -> None:
  pass


def _counting(records: Iterable[tuple[str, str]], log: Log, what: str) -> Iterator[tuple[str, str]]:
  for n, record in enumerate(records, 1):
    if n % _PROGRESS_EVERY == 0:
      log(f"{what}: {n:,} captions")
    yield record


def _patterns(shard_patterns: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
  if isinstance(shard_patterns, (str, os.PathLike)):
    return [os.fspath(shard_patterns)]
  return [os.fspath(p) for p in shard_patterns]


def _write_atomic(path: str, data: bytes) -> None:
  # Temp file + rename so readers never see half a model (open(), not mkstemp: normal permissions).
  tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")
  try:
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.unlink(tmp)


def train_spm(
    sentences: Iterable[str],
    vocab_size: int,
    *,
    loc_tokens: int = 0,
    seed: int = 0,
    num_threads: int = DEFAULT_THREADS,
    character_coverage: float = 0.9995,
) -> bytes:
  """Serialized SentencePiece unigram model: byte fallback, T5 ids, optional <locNNNN> pieces."""
  if not 0 <= loc_tokens <= 10_000:
    raise ValueError(f"loc_tokens must be in [0, 10000] (4-digit pieces), got {loc_tokens}")
  if vocab_size <= _SPECIAL_AND_BYTES + loc_tokens:
    raise ValueError(f"vocab_size {vocab_size} leaves no room for text pieces: 3 special + "
                     f"256 byte + {loc_tokens} loc pieces come first")
  spm.set_random_generator_seed(seed)
  out = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences),
      model_writer=out,
      model_type="unigram",
      vocab_size=vocab_size,
      byte_fallback=True,
      pad_id=T5_IDS["pad"], eos_id=T5_IDS["eos"], unk_id=T5_IDS["unk"], bos_id=T5_IDS["bos"],
      pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
      user_defined_symbols=[LOC_FORMAT.format(k) for k in range(loc_tokens)],
      character_coverage=character_coverage,
      normalization_rule_name="nmt_nfkc",
      # Sampling is ours (temperature, seeded); SentencePiece must use every sentence as given.
      input_sentence_size=0,
      shuffle_input_sentence=False,
      num_threads=num_threads,
      minloglevel=2,  # progress is ours; SentencePiece's info log is very long
  )
  return out.getvalue()


def train_tokenizer(
    shard_patterns: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    vocab_size: int,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    loc_tokens: int = 0,
    sample: int | None = None,
    seed: int = 0,
    num_threads: int = DEFAULT_THREADS,
    character_coverage: float = 0.9995,
    log: Log | None = None,
) -> dict[str, Any]:
  """Writes output_dir/spm.model and output_dir/tokenizer.json; returns what the json holds.

  Two passes over the shards: count captions per language, then draw `sample` captions
  (default min(total, 1M)) with p_l proportional to n_l^temperature.
  """
  log = log or _quiet
  patterns = _patterns(shard_patterns)
  files = sorted({f for p in patterns for f in shards.expand_shards(p)})
  if not files:
    raise FileNotFoundError(f"no curated shards (.tar or .parquet) match {' '.join(patterns)}")
  log(f"counting captions in {len(files)} shard(s)")
  counts = collections.Counter(lang for _, lang in _counting(shards.iter_captions(files), log, "counted"))
  total = sum(counts.values())
  if not total:
    raise ValueError(f"the shards matching {' '.join(patterns)} hold no captions")
  log(f"read {total:,} captions in {len(counts)} language(s): "
      + ", ".join(f"{lang}={n:,}" for lang, n in counts.most_common()))

  size = min(total, DEFAULT_SAMPLE) if sample is None else sample
  probs = sampling.language_probs(counts, temperature)
  quotas = sampling.language_quotas(counts, size, temperature)
  log(f"sampling {size:,} captions at temperature {temperature}: "
      + ", ".join(f"{lang}={quotas[lang]:,}" for lang in sorted(quotas, key=lambda lang: (-quotas[lang], lang))))
  drawn = sampling.sample_captions(_counting(shards.iter_captions(files), log, "sampled"), quotas, seed)

  log(f"training unigram model, vocab {vocab_size:,}, {num_threads} thread(s)")
  model = train_spm((caption for caption, _ in drawn), vocab_size, loc_tokens=loc_tokens, seed=seed,
                    num_threads=num_threads, character_coverage=character_coverage)
  tok = Tokenizer(model)

  # Fertility and coverage on (up to) STATS_CAPTIONS distinct sampled captions per language.
  texts: dict[str, list[str]] = collections.defaultdict(list)
  seen = set()
  for caption, lang in drawn:
    if len(texts[lang]) < STATS_CAPTIONS and (lang, caption) not in seen:
      seen.add((lang, caption))
      texts[lang].append(caption)
  per_lang = stats.stats_by_language(tok, texts)
  overall = stats.text_stats(tok, [t for lang in sorted(texts) for t in texts[lang]])

  info = {
      "format": FORMAT,
      "model_file": MODEL_FILE,
      "sha256": tok.sha256,
      "vocab_size": tok.vocab_size,
      "model_type": "unigram",
      "byte_fallback": True,
      "ids": dict(T5_IDS),
      "normalization": "nmt_nfkc",
      "loc_tokens": loc_tokens,
      "loc_first_id": tok.loc_id(0) if loc_tokens else None,
      "character_coverage": character_coverage,
      "temperature": temperature,
      "sample": size,
      "seed": seed,
      "num_threads": num_threads,
      "sentencepiece_version": spm.__version__,
      "shards": {"patterns": patterns, "files": len(files)},
      "captions": total,
      "coverage": round(overall.coverage, 6),
      "fertility": round(overall.fertility, 6),
      "stats_note": f"fertility = tokens per normalised character, coverage = share of characters "
                    f"without byte fallback; on up to {STATS_CAPTIONS} distinct sampled captions per language",
      "languages": {
          lang: {
              "captions": counts[lang],
              "probability": round(probs[lang], 6),
              "sampled": quotas[lang],
              "fertility": round(per_lang[lang].fertility, 6) if lang in per_lang else None,
              "coverage": round(per_lang[lang].coverage, 6) if lang in per_lang else None,
          }
          for lang in sorted(counts)
      },
  }
  os.makedirs(output_dir, exist_ok=True)
  _write_atomic(os.path.join(output_dir, MODEL_FILE), model)
  _write_atomic(os.path.join(output_dir, INFO_FILE),
                (json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
  log(f"wrote {os.path.join(output_dir, MODEL_FILE)} (sha256 {tok.sha256[:12]}), fertility "
      + ", ".join(f"{lang}={s.fertility:.3f}" for lang, s in per_lang.items()))
  return info
