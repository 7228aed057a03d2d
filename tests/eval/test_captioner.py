"""Captioner evals: ARef box accuracy on a rigged decoder, caption zero-shot on a scorer with known answers,
caption perplexity of a uniform decoder, and a captioner trainer's evals end to end (schedule, checkpoint, CLI)."""

from __future__ import annotations

import io
import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from tests.eval import schemas
from tests.pretrain.curated_images import Example, write_curated_images, write_shards
from webpairs import cli
from webpairs.configs import loader
from webpairs.demo import synthetic
from webpairs.eval import hooks, metrics, registry
from webpairs.pretrain.inference import captioner
from webpairs.pretrain.inference import loader as inference_loader
from webpairs.pretrain import models, trainer
from webpairs.pretrain.objectives import cappa, locca_boxes
from webpairs.tokenizers import Tokenizer, train_tokenizer

BINS = 32
BOX = [0.1, 0.2, 0.6, 0.7]  # bins 3, 6, 19, 22 of 32
FAR = [0.7, 0.75, 0.9, 0.95]  # no overlap with BOX


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  """Curated scene shards (train, held-out) and a tokenizer with 32 <locNNNN> pieces."""
  root = tmp_path_factory.mktemp("captioner")
  write_curated_images(root / "train", 64, seed=0, shard_size=32)
  write_curated_images(root / "held_out", 12, seed=1, shard_size=8)
  train_tokenizer(str(root / "train"), root / "tok", 600, loc_tokens=BINS, num_threads=2)
  return root


@pytest.fixture(scope="module")
def tok(root):
  return Tokenizer.load(root / "tok")


def _png(colour: tuple[int, int, int]) -> bytes:
  out = io.BytesIO()
  Image.new("RGB", (20, 12), colour).save(out, "PNG")
  return out.getvalue()


def region_shards(folder, regions_per_image):
  """One shard of solid images whose json carries the given regions."""
  write_shards(folder, [Example(f"{i:04d}", "png", _png((40 * i, 90, 200)), f"picture {i}", "en", tuple(regs))
                        for i, regs in enumerate(regions_per_image)], shard_size=64)
  return str(folder)


# The rigged model: each position's logits depend only on the token before it.


class BigramDecoder(nnx.Module):
  """logits[b, t] = table[tokens[b, t]], with a KV cache that holds nothing: spells a fixed chain of tokens."""

  def __init__(self, table: np.ndarray, max_len: int):
    self.table = nnx.Param(jnp.asarray(table, jnp.float32))
    self.vocab_size, self.max_len, self.mask_id = table.shape[1], max_len, table.shape[1]

  def memory(self, encoded):
    return []

  def __call__(self, tokens, encoded, causal=True, memory=None):
    return self.table[...][tokens]

  def init_cache(self, encoded):
    return []

  def step(self, token, index, cache):
    return self.table[...][token], cache


class RiggedCaptioner(nnx.Module):

  def __init__(self, table: np.ndarray, max_len: int):
    self.decoder = BigramDecoder(table, max_len)

  def encode(self, images):
    return jnp.zeros((images.shape[0], 1, 1))


def spelling(tok: Tokenizer, pieces: list[str]) -> np.ndarray:
  """A table whose decoder writes `pieces` then EOS after the ':' that ends every ARef prompt."""
  after = tok.encode([locca_boxes.aref_prompt("x")])[0][-1]
  chain = [after, *(tok.piece_to_id(p) for p in pieces), tok.eos_id]
  table = np.zeros((tok.vocab_size, tok.vocab_size), np.float32)
  for prev, nxt in itertools.pairwise(chain):
    table[prev] = -30.0
    table[prev, nxt] = 0.0
  return table


def aref(data_dir: str, **kw):
  return registry.build(dict(type="aref", dataset="curated", data_dir=data_dir, bins=BINS, batch_size=2, **kw),
                        data_root="/nonexistent")


@pytest.mark.parametrize("beam_size", [1, 3])
def test_aref_scores_a_decoder_that_spells_one_box(root, tok, tmp_path, beam_size):
  # As training tokenises the target: a word-start piece, then the four coordinates.
  box_pieces = ["\u2581", *locca_boxes.box_text(BOX, BINS).replace("><", "> <").split()]
  ids = tok.encode([locca_boxes.box_text(BOX, BINS)])[0]
  assert [tok.id_to_piece(i) for i in ids] == box_pieces
  rigged = lambda pieces: captioner.CaptionerModel.from_module(RiggedCaptioner(spelling(tok, pieces), 32), tok,
                                                                image_size=8, max_len=32)
  model = rigged(box_pieces)
  predicted = locca_boxes.dequantize(np.array([3, 6, 19, 22]), BINS)
  iou = float(metrics.box_iou(predicted, np.array(BOX)))
  assert 0.5 < iou < 1
  match = region_shards(tmp_path / "match", [
      [{"text": "red circle", "box": BOX}],
      [{"text": "blue square", "box": FAR}, {"text": "blue square", "box": BOX}],  # either object of the text
      [],  # no regions: no query
      [{"text": " ", "box": BOX}, {"text": "green star", "box": [0.5, 0.5, 0.5, 0.9]}],  # no text, no area: dropped
      [{"text": "red circle", "box": BOX}, {"text": "tiny dot", "box": [0.0, 0.0, 0.01, 0.01]}],
  ])
  out = dict(aref(match, beam_size=beam_size).run(model))
  # Queries: red circle, blue square (two boxes), red circle, tiny dot (missed: IoU 0).
  assert out["queries"] == 4 and out["examples"] == 3
  assert out["accuracy"] == 3 / 4 and out["parse_failure_rate"] == 0.0
  assert out["mean_iou"] == pytest.approx(3 * iou / 4, abs=1e-12)
  mean_box = np.mean([BOX, FAR, BOX, BOX, [0.0, 0.0, 0.01, 0.01]], axis=0)
  base = [metrics.box_iou(mean_box, np.array(t)).max() for t in ([BOX], [FAR, BOX], [BOX], [[0.0, 0.0, 0.01, 0.01]])]
  assert out["baseline_mean_iou"] == pytest.approx(np.mean(base), abs=1e-12)
  assert out["baseline_accuracy"] == np.mean(np.array(base) >= 0.5)

  far = region_shards(tmp_path / "far", [[{"text": "red circle", "box": FAR}], [{"text": "blue square", "box": FAR}]])
  out = dict(aref(far, beam_size=beam_size).run(model))
  assert out["accuracy"] == 0.0 and out["mean_iou"] == 0.0 and out["baseline_accuracy"] == 1.0

  # Three coordinates then EOS: nothing parses, every query is a miss.
  out = dict(aref(match, beam_size=beam_size).run(rigged(box_pieces[:4])))
  assert out["parse_failure_rate"] == 1.0 and out["accuracy"] == 0.0 and out["mean_iou"] == 0.0


def test_aref_config_and_data_errors(tmp_path):
  empty = region_shards(tmp_path / "empty", [[], [{"text": "red", "box": [0.5, 0.5, 0.4, 0.9]}]])
  with pytest.raises(ValueError, match="no valid regions"):
    aref(empty)
  with pytest.raises(ValueError, match="style"):
    aref(empty, style="words")
  ok = region_shards(tmp_path / "ok", [[{"text": "red", "box": BOX}]])
  with pytest.raises(TypeError, match="needs a captioner"):
    list(aref(ok).run(object()))


# Caption zero-shot.


class WordScorer:
  """Per-token log-prob by the first colour word a text holds (default -2); a text's tokens: its words and EOS."""

  image_size = 16

  def __init__(self, per_token: dict[str, float]):
    self.per_token = per_token

  def score_texts(self, images, texts, reduce="sum"):
    lp = np.array([next((v for k, v in self.per_token.items() if k in t.split()), -2.0) for t in texts])
    row = lp * np.array([len(t.split()) + 1 for t in texts]) if reduce == "sum" else lp
    return np.tile(row, (len(images), 1))


ROWS = [dict(country="Kenya", region="Africa", income=100, labels=["red"], colour="red"),
        dict(country="Kenya", region="Africa", income=150, labels=["green"], colour="green"),
        dict(country="France", region="Europe", income=3000, labels=["blue"], colour="blue"),
        dict(country="France", region="Europe", income=2500, labels=["green", "blue"], colour="green"),
        dict(country="Japan", region="Asia", income=600, labels=["green"], colour="green")]


def test_caption_zero_shot_predicts_the_class_whose_prompts_are_likeliest(tmp_path):
  schemas.dollarstreet_metadata(tmp_path / "ds", ROWS)
  build = lambda **kw: registry.build(dict(type="caption_zero_shot", dataset="dollarstreet", data_dir="ds",
                                           templates=["{}"], batch_size=2, **kw), data_root=str(tmp_path))
  # 'red' is every image's likeliest caption: right on the one red image.
  out = dict(build().run(WordScorer({"red": -1.0})))
  assert out["accuracy"] == 1 / 5 and out["accuracy/region/Africa"] == 0.5
  # A long alias costs blue its summed log-likelihood (prompts averaged: (2 + 7) / 2 * -1 = -4.5 against
  # green's 2 * -1.5 = -3), not its per-token one (-1 against -1.5).
  scorer = WordScorer({"blue": -1.0, "green": -1.5})
  aliases = {"blue": ["blue one two three four five"]}
  assert dict(build(aliases=aliases).run(scorer))["accuracy"] == 3 / 5  # green everywhere
  assert dict(build(aliases=aliases, reduce="mean").run(scorer))["accuracy"] == 2 / 5  # blue everywhere
  with pytest.raises(ValueError, match="reduce"):
    build(reduce="max")
  with pytest.raises(TypeError, match="score_texts"):
    list(build().run(object()))


# Perplexity, and the adapter over a real captioner.


@pytest.fixture(scope="module")
def module(tok) -> models.Captioner:
  """A mu/8 captioner on 16 px images with random logit weights (zero-initialised ones make every prediction
  uniform). Built in one jitted program: eager init compiles each initialiser."""
  build = lambda: models.build("captioner", rngs=nnx.Rngs(0), image=dict(variant="mu/8", image_size=16), decoder={},
                               vocab_size=tok.vocab_size, max_len=16)
  graphdef, _ = nnx.split(nnx.eval_shape(build))
  model = nnx.merge(graphdef, jax.jit(lambda: nnx.split(build())[1])())
  model.decoder.head.kernel[...] = jax.random.normal(jax.random.PRNGKey(1), model.decoder.head.kernel.shape)
  return model


def test_perplexity_of_a_uniform_decoder_is_the_vocabulary_size(root, tok, module, tmp_path):
  uniform = nnx.clone(module)
  uniform.decoder.head.kernel[...] = jnp.zeros_like(uniform.decoder.head.kernel[...])
  model = captioner.CaptionerModel.from_module(uniform, tok, image_size=16, max_len=16, max_rows=8)
  synthetic.write_eval_set(tmp_path / "synthetic", 24, seed=0, image_size=24, languages=("en", "de"))
  held_out = str(root / "held_out")
  for config in (dict(dataset="xm3600", data_dir="synthetic"), dict(dataset="curated", data_dir=held_out)):
    ev = registry.build(dict(type="caption_perplexity", batch_size=5, **config), data_root=str(tmp_path))
    out = dict(ev.run(model))
    assert out["ppl"] == pytest.approx(tok.vocab_size, rel=1e-5)
    assert out["nll_per_token"] == pytest.approx(np.log(tok.vocab_size), rel=1e-6)
    assert out["teacher_forced_loss"] == pytest.approx(np.log(tok.vocab_size), rel=1e-6)
    assert out["captions"] == len(ev.dataset.captions)
    labels, _ = model.caption_rows(list(ev.dataset.captions))
    assert out["tokens"] == (labels != 0).sum()  # every token and one EOS per caption
  assert out["examples"] == 12  # the held-out shards, in several languages
  assert sum(k.startswith("ppl/language/") for k in out) > 1


def test_the_adapter_scores_and_decodes_as_the_decoder_does(tok, module):
  model = captioner.CaptionerModel.from_module(module, tok, image_size=16, max_len=16, max_rows=8)
  images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
  texts = ["a red circle", "zwei blaue Quadrate und ein Stern", ""]
  scores = model.score_texts(images, texts)
  labels, weights = model.caption_rows(texts)
  forward = jax.jit(lambda im, tk: jax.nn.log_softmax(module(im, cappa.shift_right(tk), True)))
  logp = np.asarray(forward(images, labels))
  # Row i of the direct pass pairs image i with text i: the diagonal (the adapter chunks its 9 rows by 8).
  direct = (np.take_along_axis(logp, labels[..., None], -1)[..., 0] * weights).sum(1)
  np.testing.assert_allclose(np.diag(scores), direct, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(model.score_texts(images, texts, reduce="mean"), scores / weights.sum(1), rtol=1e-5)
  # 51 texts against 3 images go in two chunks of texts (16 * max_rows // 3 = 42 a chunk).
  np.testing.assert_allclose(model.score_texts(images, texts * 17), np.tile(scores, (1, 17)), rtol=1e-6)
  # A greedy continuation of a prompt, each row on its own image, is the argmax of a teacher-forced pass over it.
  index, prefix_len = np.array([2, 0, 1]), np.array([2, 1, 0])
  tokens = model.decode(images, labels[:, :2], prefix_len, length=6, image_index=index)
  argmax = np.argmax(np.asarray(forward(images[index], np.pad(tokens, ((0, 0), (0, 10))))), -1)[:, :6]
  free = np.arange(6)[None, :] >= prefix_len[:, None]
  np.testing.assert_array_equal(tokens[free], argmax[free])
  np.testing.assert_array_equal(tokens[0, :2], labels[0, :2])
  wide = model.decode(images, labels[:, :2], prefix_len, length=6, beam_size=3, image_index=index)
  assert wide.shape == (3, 6) and (wide[0, :2] == labels[0, :2]).all()
  with pytest.raises(ValueError, match="image_index"):
    model.score(images, labels, weights, image_index=np.array([0, 1, 3]))


def test_a_captioner_run_evaluates_on_schedule_and_from_its_checkpoint(root, tmp_path, capsys):
  synthetic.write_eval_set(tmp_path / "data" / "synthetic", 24, seed=0, image_size=32, languages=("en",))
  config = loader.load_config(loader.PRETRAIN,
                              f"cappa:tiny,eval_root={tmp_path / 'data'},eval_shards={root / 'held_out'}")
  config.input.shards = str(root / "train")
  config.input.tokenizer = str(root / "tok")
  loader.apply_overrides(config, ["input.batch_size=16", "input.num_workers=0", "total_steps=2", "optax.warmup_steps=1",
                                  "log_every=1", "ckpt_every=2"])
  config.evals.aref = dict(type="aref", dataset="curated", data_dir=str(root / "held_out"), bins=BINS)
  final = trainer.train(config, str(tmp_path / "work"), hooks=hooks.from_config(config, workdir=str(tmp_path / "work")))
  for name in ("synthetic_caption_zeroshot/accuracy", "synthetic_perplexity/ppl", "held_out_perplexity/ppl",
               "aref/accuracy", "aref/baseline_accuracy", "aref/parse_failure_rate"):
    assert np.isfinite(final[name]), name
  assert 0 <= final["synthetic_caption_zeroshot/accuracy"] <= 1
  assert final["aref/queries"] >= final["aref/examples"] > 0
  # Two steps from uniform logits: the perplexity is still near the vocabulary size.
  assert 100 < final["held_out_perplexity/ppl"] < 2 * 600

  model, step = inference_loader.load_checkpoint(str(tmp_path / "work"))
  assert isinstance(model, captioner.CaptionerModel) and step == 2
  # The checkpoint's parameters are the ones the scheduled evals ran on.
  assert cli.main(["eval", "--workdir", str(tmp_path / "work"), "--evals", "held_out_perplexity,aref",
                   "--data-root", str(tmp_path / "data")]) == 0
  assert "| aref | accuracy |" in capsys.readouterr().out
  record = json.loads((tmp_path / "work" / "eval" / "2.json").read_text())
  assert record["checkpoint"].endswith("checkpoints/2")  # the CLI's record, not the trainer's
  record = record["metrics"]
  assert record["held_out_perplexity/ppl"] == pytest.approx(final["held_out_perplexity/ppl"], rel=1e-5)
  assert record["aref/accuracy"] == final["aref/accuracy"]
