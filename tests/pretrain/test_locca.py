"""LocCa: box quantisation, golden task strings, boxes parsed back from decoded tokens, task token rows, and the
objective (one encoder call per step, no region loss and no NaN without regions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from tests.pretrain.captioners import LEN, VOCAB, tiny_captioner
from webpairs.pretrain import models, objectives
from webpairs.pretrain.objectives import cappa, locca
from webpairs.pretrain.objectives import locca_boxes as boxes
from webpairs.pretrain.models.decoder import Decoder
from webpairs.pretrain.models.vit import ViT
from webpairs.tokenizers import Tokenizer
from webpairs.tokenizers.train import train_spm

SCENES = ["a red circle above a blue square", "two green triangles on a white background", "a small yellow star"]


@pytest.fixture(scope="module")
def loc_tokenizer() -> Tokenizer:
  # 100 <locNNNN> pieces: enough for boxes quantised to 100 bins.
  return Tokenizer(train_spm(SCENES * 50, 388, loc_tokens=100, num_threads=1))


@pytest.mark.parametrize("bins", [1, 7, 100, 500, 1000])
def test_quantise_dequantise_error_is_at_most_half_a_bin(bins):
  rng = np.random.default_rng(bins)
  x = np.concatenate([rng.uniform(0, 1, 10_000), [0.0, 1.0, 0.5, 1 - 1e-12]])
  q = boxes.quantize(x, bins)
  assert q.min() >= 0 and q.max() <= bins - 1
  assert np.abs(boxes.dequantize(q, bins) - x).max() <= 0.5 / bins + 1e-12
  if bins > 1:  # every bin is used: no coordinate range collapses
    assert len(np.unique(q)) == bins


def test_degenerate_and_out_of_range_boxes_are_clipped_or_dropped():
  raw = np.array([
      [0.1, 0.2, 0.5, 0.6],     # fine
      [-0.2, 0.3, 0.4, 1.3],    # overhangs two edges: clipped
      [0.5, 0.5, 0.5, 0.9],     # zero height
      [0.6, 0.2, 0.4, 0.5],     # ymax < ymin
      [1.2, 1.1, 1.5, 1.4],     # wholly outside
      [np.nan, 0.1, 0.2, 0.3],  # not finite
  ])
  clipped, valid = boxes.clean_boxes(raw)
  np.testing.assert_array_equal(valid, [True, True, False, False, False, False])
  np.testing.assert_allclose(clipped[:2], [[0.1, 0.2, 0.5, 0.6], [0.0, 0.3, 0.4, 1.0]])


def test_task_strings_match_golden_strings():
  box = [0.1, 0.2, 0.5, 0.75]
  assert boxes.box_text(box, 500) == "<loc0050><loc0100><loc0250><loc0375>"
  assert boxes.box_text(box, 500, style="int") == "50 100 250 375"
  assert boxes.box_text([0.0, 0.0, 1.0, 1.0], 500) == "<loc0000><loc0000><loc0499><loc0499>"
  assert boxes.aref_prompt(" red circle ") == "aref: red circle :"
  assert boxes.gcap_prompt(box, 500) == "gcap: <loc0050><loc0100><loc0250><loc0375> :"
  assert boxes.gcap_prompt(box, 100, style="int") == "gcap: 10 20 50 75 :"
  with pytest.raises(ValueError):
    boxes.box_text(box, 500, style="words")


@pytest.mark.parametrize("style", ["loc", "int"])
def test_a_box_parses_back_from_decoded_text(loc_tokenizer, style):
  bins = 100
  box = np.array([0.123, 0.456, 0.789, 0.9])
  text = boxes.box_text(box, bins, style)
  ids = loc_tokenizer.encode([text])[0]
  if style == "loc":  # one piece per coordinate, not characters (after at most the leading-space piece)
    assert ids[-4:] == [loc_tokenizer.loc_id(int(k)) for k in boxes.quantize(box, bins)] and len(ids) <= 5
  decoded = loc_tokenizer.decode(np.array(ids + [loc_tokenizer.eos_id, 0, 0]))
  parsed = boxes.parse_box(decoded, bins, style)
  np.testing.assert_allclose(parsed, box, atol=0.5 / bins)
  # Text around the box (the prompt, a trailing word) does not confuse the parser.
  assert np.allclose(boxes.parse_box(f"aref: star : {text} done", bins, style), parsed)


def test_unparseable_box_text_is_none():
  assert boxes.parse_box("<loc0001><loc0002><loc0003>", 500) is None  # three coordinates
  assert boxes.parse_box("<loc0001><loc0002><loc0600><loc0700>", 500) is None  # past the bins
  assert boxes.parse_box("<loc0300><loc0002><loc0100><loc0700>", 500) is None  # ymax < ymin
  assert boxes.parse_box("1 2 3", 500, style="int") is None


def test_task_tokens_weigh_the_target_or_everything(loc_tokenizer):
  prompts = [boxes.aref_prompt("red circle"), boxes.aref_prompt("a small yellow star above the square")]
  targets = [boxes.box_text([0.1, 0.2, 0.5, 0.6], 100)] * 2
  tokens, weights = boxes.task_tokens(loc_tokenizer, prompts, targets, 24)
  p0 = len(loc_tokenizer.encode([prompts[0]])[0])
  target = [*loc_tokenizer.encode([targets[0]])[0], loc_tokenizer.eos_id]
  assert target[-5:] == [*[loc_tokenizer.loc_id(k) for k in (10, 20, 50, 60)], loc_tokenizer.eos_id]
  end = p0 + len(target)
  np.testing.assert_array_equal(tokens[0, p0:end], target)
  assert (tokens[0, end:] == 0).all()
  np.testing.assert_array_equal(np.flatnonzero(weights[0]), np.arange(p0, end))
  # Decoding prompt and target together gives the two strings joined by a space.
  assert loc_tokenizer.decode(tokens[0]) == f"{prompts[0]} {targets[0]}"
  # A row too short for the whole box keeps the target's first tokens, with no weight on the prompt...
  p1 = len(loc_tokenizer.encode([prompts[1]])[0])
  cut, cut_weights = boxes.task_tokens(loc_tokenizer, prompts, targets, p1 + 2)
  assert (cut[1] != 0).all() and cut_weights[1, :p1].sum() == 0 and cut_weights[1].sum() == 2
  # ...and one whose prompt fills it has no weight at all (no loss, not a NaN, downstream).
  assert weights[1].sum() == 0 and p1 >= 24
  _, all_weights = boxes.task_tokens(loc_tokenizer, prompts, targets, 24, loss_on="all")
  np.testing.assert_array_equal(all_weights[0], (tokens[0] != 0).astype(np.float32))


# The LocCa objective.

def _locca_batch(with_regions: bool) -> dict[str, jax.Array]:
  key = jax.random.PRNGKey(0)
  b = 4
  text = jnp.array([[5, 6, 7, 1] + [1] * (LEN - 4)] * b)
  out = {"image": jax.random.uniform(key, (b, 16, 16, 3), minval=-1, maxval=1), "text": text}
  for i, task in enumerate(locca.TASKS):
    tokens = jax.random.randint(jax.random.fold_in(key, i), (b, LEN), 2, VOCAB)
    weights = jnp.zeros((b, LEN)).at[:, 4:].set(1.0)
    if with_regions:
      weights = weights.at[1].set(0.0)  # one example has no regions
    else:
      weights = jnp.zeros_like(weights)
    out[f"{task}_tokens"], out[f"{task}_weights"] = tokens, weights
  return out


def test_one_locca_step_runs_the_encoder_once_and_the_decoder_three_times(monkeypatch):
  # An abstract model and batch: tracing alone tells what one step computes, nothing is compiled.
  graphdef, params = nnx.split(nnx.eval_shape(lambda: models.build(
      "captioner", rngs=nnx.Rngs(0), image=dict(variant="mu/8", image_size=16), decoder={}, vocab_size=VOCAB,
      max_len=LEN)))
  batch = jax.eval_shape(lambda: _locca_batch(True))
  calls = {"vit": 0, "decoder": 0}
  vit_call, dec_call = ViT.__call__, Decoder.__call__

  def count(name, fn):
    def wrapped(self, *args, **kwargs):
      calls[name] += 1
      return fn(self, *args, **kwargs)
    return wrapped

  monkeypatch.setattr(ViT, "__call__", count("vit", vit_call))
  monkeypatch.setattr(Decoder, "__call__", count("decoder", dec_call))
  objective = objectives.build(ml_collections.ConfigDict({"loss": {"name": "locca", "parallel_prob": 0.5}}))
  loss, metrics = jax.eval_shape(lambda p, b, r: objective.loss(nnx.merge(graphdef, p), b, r), params, batch,
                                 jax.random.PRNGKey(0))
  assert calls == {"vit": 1, "decoder": 3}
  assert loss.shape == () and set(metrics) == {"loss_cap", "loss_aref", "loss_gcap", "region_fraction"}


def test_examples_without_regions_add_no_region_loss_and_no_nan():
  model = tiny_captioner()
  objective = locca.LocCa(parallel_prob=0.5)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def loss_of(p, batch):
    return objective.loss(nnx.merge(graphdef, p, rest), batch, jax.random.PRNGKey(0))

  step = jax.jit(jax.value_and_grad(loss_of, has_aux=True))
  (loss, metrics), grads = step(params, _locca_batch(False))
  assert float(metrics["loss_aref"]) == 0.0 and float(metrics["loss_gcap"]) == 0.0
  assert float(loss) == pytest.approx(float(metrics["loss_cap"])) and float(loss) > 0
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
  assert float(metrics["region_fraction"]) == 0.0

  (loss, metrics), grads = step(params, _locca_batch(True))
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
  assert float(metrics["loss_aref"]) > 0 and float(metrics["loss_gcap"]) > 0
  total = sum(float(metrics[f"loss_{k}"]) for k in ("cap", "aref", "gcap"))
  assert float(loss) == pytest.approx(total, rel=1e-6)
  assert float(metrics["region_fraction"]) == pytest.approx(0.75)


def test_region_loss_is_the_mean_over_rows_with_regions():
  logits = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 12))
  labels = jax.random.randint(jax.random.PRNGKey(1), (4, 6), 2, 12)
  weights = jnp.zeros((4, 6)).at[:, 3:].set(1.0).at[1].set(0.0)

  @jax.jit
  def losses(logits, labels, weights):
    return (cappa.weighted_sequence_loss(logits, labels, weights)[1], locca.task_loss(logits, labels, weights),
            locca.task_loss(logits.at[:, :3].add(5.0), labels, weights),
            locca.task_loss(logits, labels, jnp.zeros_like(weights)))

  per_seq, loss, prompt_changed, no_regions = jax.device_get(losses(logits, labels, weights))
  # Rows without regions do not dilute the mean; the prompt part carries no loss; no regions: 0, not NaN.
  assert loss == pytest.approx(per_seq[[0, 2, 3]].mean())
  assert prompt_changed == pytest.approx(loss)
  assert no_regions == 0.0


def test_region_tasks_pick_a_valid_region_and_leave_examples_without_one_weightless(loc_tokenizer):
  regions = [
      [{"text": "red circle", "box": [0.1, 0.2, 0.5, 0.6]}, {"text": "blue square", "box": [0.5, 0.5, 0.5, 0.9]}],
      [],
      [{"text": "yellow star", "box": [1.2, 1.1, 1.5, 1.4]}],  # wholly outside: dropped, so no region left
      [{"text": "green triangle", "box": [-0.1, 0.0, 0.3, 0.4]}],  # overhangs: clipped
  ]
  out = boxes.region_tasks(loc_tokenizer, regions, np.random.default_rng(0), 32, bins=100)
  assert {k: v.shape for k, v in out.items()} == {f"{t}_{f}": (4, 32) for t in ("aref", "gcap")
                                                 for f in ("tokens", "weights")}
  for task in ("aref", "gcap"):
    assert out[f"{task}_weights"][[1, 2]].sum() == 0 and (out[f"{task}_tokens"][[1, 2]] == 0).all()
    assert (out[f"{task}_weights"][[0, 3]].sum(axis=1) > 0).all()
  # Example 0's only valid region is the circle (the square has no height).
  assert loc_tokenizer.decode(out["aref_tokens"][0]) == "aref: red circle : <loc0010><loc0020><loc0050><loc0060>"
  assert loc_tokenizer.decode(out["gcap_tokens"][0]) == "gcap: <loc0010><loc0020><loc0050><loc0060> : red circle"
  decoded = loc_tokenizer.decode(out["aref_tokens"][3])
  np.testing.assert_allclose(boxes.parse_box(decoded.split(":")[-1], 100), [0.0, 0.0, 0.3, 0.4], atol=0.005)
