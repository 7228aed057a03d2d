"""SILC / SigLIP 2: multi-crop, EMA teacher, DINO head and loss, masked prediction, the train step and schedule."""

from __future__ import annotations

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.pretrain.conftest import TINY, saved_state
from webpairs.configs import loader
from webpairs.pretrain import objectives
from webpairs.pretrain import trainer as trainer_lib
from webpairs.pretrain.models.vit import ViT
from webpairs.pretrain.objectives.silc import crops, distill, ema, masking
from webpairs.pretrain.objectives.silc.augment import ViewAugment
from webpairs.pretrain.objectives.silc.dino_head import DINOHead
from webpairs.pretrain.objectives.silc.model import teacher_part, with_teacher
from webpairs.pretrain.objectives.silc.objective import Silc, loss_weights, size_factor

VOCAB = 50
SLOW = pytest.mark.skipif(os.environ.get("WEBPAIRS_SLOW") != "1", reason="slow: set WEBPAIRS_SLOW=1")


# 4. Crops.

@pytest.mark.parametrize("area", [crops.GLOBAL_AREA, crops.LOCAL_AREA])
def test_crop_boxes_keep_area_and_aspect_bounds_and_lie_inside_the_image(area):
  boxes = np.asarray(crops.sample_boxes(jax.random.PRNGKey(3), 4000, area, crops.ASPECT))
  y0, x0, h, w = boxes.T
  eps = 1e-5
  assert np.all(h * w >= area[0] - eps) and np.all(h * w <= area[1] + eps)
  assert np.all(w / h >= crops.ASPECT[0] - eps) and np.all(w / h <= crops.ASPECT[1] + eps)
  assert np.all(y0 >= 0) and np.all(x0 >= 0) and np.all(y0 + h <= 1 + eps) and np.all(x0 + w <= 1 + eps)
  # The draws spread over the ranges rather than sticking to one edge.
  assert np.ptp(h * w) > 0.8 * (area[1] - area[0])
  assert np.ptp(np.log(w / h)) > 0.5 * np.log(crops.ASPECT[1] / crops.ASPECT[0])


def test_crop_sampler_is_a_function_of_the_key():
  images = jax.random.randint(jax.random.PRNGKey(0), (3, 32, 32, 3), 0, 256).astype(jnp.uint8)
  run = jax.jit(lambda key: crops.multi_crop(key, images, num_global=2, num_local=3, global_size=32, local_size=16))
  g1, l1 = run(jax.random.PRNGKey(7))
  g2, l2 = run(jax.random.PRNGKey(7))
  g3, _ = run(jax.random.PRNGKey(8))
  assert [v.shape for v in g1] == [(3, 32, 32, 3)] * 2 and [v.shape for v in l1] == [(3, 16, 16, 3)] * 3
  for a, b in zip(g1 + l1, g2 + l2):
    np.testing.assert_array_equal(a, b)
  assert not np.allclose(g1[0], g3[0])
  assert float(jnp.min(g1[0])) >= -1.0 - 1e-5 and float(jnp.max(g1[0])) <= 1.0 + 1e-5


def test_crop_resize_reads_the_box():
  # Left half 0, right half 1: the full box keeps the image, the right-half box is all ones.
  image = jnp.concatenate([jnp.zeros((1, 16, 8, 1)), jnp.ones((1, 16, 8, 1))], axis=2)
  full = crops.crop_resize(image, jnp.array([[0.0, 0.0, 1.0, 1.0]]), 16)
  np.testing.assert_allclose(full, image, atol=1e-5)
  # A box a few pixels inside the right half, so the antialiasing filter never reaches the edge.
  right = crops.crop_resize(image, jnp.array([[0.25, 0.625, 0.5, 0.375]]), 4)
  np.testing.assert_allclose(right, 1.0, atol=1e-5)


# 1. EMA teacher.

def test_ema_update_closed_form():
  teacher = {"a": jnp.arange(4.0), "b": {"c": jnp.full((2, 2), 3.0)}}
  student = {"a": jnp.ones(4), "b": {"c": jnp.full((2, 2), -1.0)}}
  same = lambda x, y: jax.tree.map(lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-6), x, y)
  same(ema.ema_update(teacher, student, 0.0), student)
  same(ema.ema_update(teacher, student, 1.0), teacher)
  same(ema.ema_update(teacher, student, 0.3), {"a": 0.3 * jnp.arange(4.0) + 0.7, "b": {"c": jnp.full((2, 2), 0.2)}})


# 3. and 2. Loss and centre.

def _softmax(x):
  e = [math.exp(v) for v in x]
  return [v / sum(e) for v in e]


def test_distill_loss_matches_a_hand_computed_2x3_example():
  # Vt = 1 teacher view, Vs = 2 student views: the only pair is (teacher 0, student 1).
  teacher = [[0.2, -0.1, 0.05], [0.0, 0.3, -0.2]]
  student1 = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.2]]
  center = [0.1, 0.0, -0.1]
  loss = distill.distill_loss(jnp.array([[[9.0, 9.0, 9.0]] * 2, student1]), jnp.array([teacher]), jnp.array(center))
  expected = 0.0
  for t, s in zip(teacher, student1):
    p = _softmax([(ti - ci) / 0.04 for ti, ci in zip(t, center)])
    q = _softmax([si / 0.1 for si in s])
    expected -= sum(pi * math.log(qi) for pi, qi in zip(p, q)) / 2
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_distill_loss_pairs_only_different_views():
  rng = np.random.default_rng(0)
  s, t = jnp.asarray(rng.normal(size=(4, 3, 5))), jnp.asarray(rng.normal(size=(2, 3, 5)))
  c = jnp.zeros(5)
  pairs = [(i, j) for i in range(2) for j in range(4) if i != j]
  expected = np.mean([float(distill.cross_entropy(s[j], distill.teacher_probs(t[i], c)).mean()) for i, j in pairs])
  np.testing.assert_allclose(float(distill.distill_loss(s, t, c)), expected, rtol=1e-5)


def test_distill_gradient_vanishes_when_the_student_matches_the_sharpened_centred_teacher():
  teacher = jnp.array([[[0.2, -0.1, 0.05], [0.0, 0.3, -0.2]]])
  center = jnp.array([0.1, 0.0, -0.1])
  p = distill.teacher_probs(teacher[0], center)
  matched = 0.1 * jnp.log(p) + 0.7  # softmax(matched / tau_s) = p; a constant shift changes nothing
  student = jnp.stack([jnp.zeros((2, 3)), matched])
  grad = jax.grad(lambda s: distill.distill_loss(s, teacher, center))(student)
  np.testing.assert_allclose(grad[1], 0.0, atol=1e-5)
  assert float(jnp.abs(jax.grad(lambda s: distill.distill_loss(s, teacher, center))(student + 0.3 * jnp.arange(3.0)
                                                                                       )[1]).max()) > 1e-2
  np.testing.assert_allclose(grad[0], 0.0)  # student view 0 pairs with no teacher view here


def test_center_update_is_the_ema_of_the_mean_logits():
  logits = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3, 4)), jnp.float32)
  c = jnp.array([1.0, -1.0, 0.5, 0.0])
  expected = 0.9 * c + 0.1 * logits.reshape(6, 4).mean(axis=0)
  np.testing.assert_allclose(distill.update_center(c, logits), expected, rtol=1e-6)
  # The targets are centred on logits, before any softmax: shifting c shifts the logits.
  np.testing.assert_allclose(distill.teacher_probs(logits + 2.0, c + 2.0), distill.teacher_probs(logits, c),
                             rtol=1e-5)


def test_dino_head_is_cosine_to_weight_normalised_prototypes():
  head = DINOHead(8, num_prototypes=5, hidden_dim=16, bottleneck_dim=4, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 8))
  call = nnx.jit(lambda h, x: h(x))
  out = call(head, x)
  assert out.shape == (3, 5) and float(jnp.abs(out).max()) <= 1.0 + 1e-5
  # Weight normalisation: the prototypes' lengths do not matter, only their directions.
  head.prototypes[...] = head.prototypes[...] * jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
  np.testing.assert_allclose(call(head, x), out, rtol=1e-4, atol=1e-6)


# 5. Masking.

@pytest.mark.parametrize("ratio,n", [(0.5, 16), (0.5, 7), (0.3, 10), (0.0, 4), (1.0, 4)])
def test_mask_has_exactly_floor_r_n_patches_per_image(ratio, n):
  mask = masking.random_patch_mask(jax.random.PRNGKey(0), 64, n, ratio)
  np.testing.assert_array_equal(mask.sum(axis=1), math.floor(ratio * n))
  if 0 < ratio < 1:
    assert len({tuple(row) for row in np.asarray(mask)}) > 1  # positions vary between images


def test_masked_prediction_loss_ignores_unmasked_positions():
  k = jax.random.split(jax.random.PRNGKey(2), 3)
  student, teacher = jax.random.normal(k[0], (2, 6, 5)), jax.random.normal(k[1], (2, 6, 5))
  mask = masking.random_patch_mask(k[2], 2, 6, 0.5)
  c = jnp.zeros(5)
  loss = masking.masked_prediction_loss(student, teacher, c, mask)
  changed = jnp.where(mask[..., None], student, student * 10 + 3)
  np.testing.assert_allclose(masking.masked_prediction_loss(changed, teacher, c, mask), loss, rtol=1e-6)
  moved = jnp.where(mask[..., None], student + jnp.arange(5.0), student)
  assert abs(float(masking.masked_prediction_loss(moved, teacher, c, mask)) - float(loss)) > 1e-3
  expected = distill.cross_entropy(student, distill.teacher_probs(teacher, c))[mask].mean()
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_vit_mask_token_hides_the_masked_patches_and_posemb_interpolates():
  vit = ViT("mu/8", image_size=32, num_classes=4, rngs=nnx.Rngs(0))
  a, b = jax.random.uniform(jax.random.PRNGKey(0), (2, 1, 32, 32, 3), minval=-1, maxval=1)
  all_masked = jnp.ones((2, 16), bool)

  @nnx.jit  # one compilation for every call below
  def run(m, x):
    return m(x, patch_mask=all_masked, mask_token=jnp.ones(m.width))[0], m(x)[0], m(x[:, :16, :16])[0]

  masked, plain, small = run(vit, jnp.concatenate([a, b]))
  np.testing.assert_allclose(masked[0], masked[1], rtol=1e-5)
  assert not np.allclose(plain[0], plain[1])
  np.testing.assert_array_equal(vit.position_embedding((4, 4)), vit.pos_embedding[...])
  assert small.shape == (2, 4)  # a 2x2 grid runs on the 4x4 table, resized


# The train step: teacher outside the optimiser (1), centre from the step's teacher logits (2), schedule (6).

def _trainer(**silc):
  config = loader.load_config(loader.PRETRAIN, "silc:tiny,batch=4,steps=10,num_local=2")
  config.optax.warmup_steps = 0  # the first step must move the student
  config.silc.update(silc)
  return trainer_lib.Trainer(config, vocab_size=VOCAB)


def _batch(seed=0):
  k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
  return {"image": jax.random.randint(k1, (4, 32, 32, 3), 0, 256).astype(jnp.uint8),
          "text": jax.random.randint(k2, (4, 64), 1, VOCAB).astype(jnp.int32)}


@pytest.fixture(scope="module")
def trainer():
  return _trainer(masked_weight=0.5, teacher_momentum=0.5, switch_step=1)


def test_teacher_is_state_outside_the_optimiser_and_gets_no_gradient(trainer):
  abstract = trainer.abstract_state
  assert set(abstract) == {"step", "params", "opt", "rng", "teacher", "center", "patch_center"}
  # The optimiser state is built from the params alone; the teacher mirrors the image side only.
  assert jax.tree.structure(abstract["opt"]) == jax.tree.structure(jax.eval_shape(trainer.tx.init, abstract["params"]))
  assert set(abstract["teacher"]) == {"towers", "head", "patch_head"} and set(abstract["teacher"]["towers"]) == {"img"}
  images = _batch()["image"][:2]

  @jax.jit
  def teacher_grads(rng):
    s0 = trainer._init_state(rng)

    def teacher_out(teacher):
      _, logits, patches = trainer._model(with_teacher(s0["params"], teacher), trainer.consts).encode_image(images)
      return logits.sum() + patches.sum()

    return jax.grad(teacher_out)(s0["teacher"])

  grads = teacher_grads(trainer.rng)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))


@pytest.fixture(scope="module")
def silc_run(trainer):
  """Two steps of a SILC trainer with masked prediction, momentum 0.5 and the switch at step 1."""
  step = jax.jit(trainer._train_step)  # no donation: the test keeps every state
  s0 = trainer.init_state()
  s1, m1 = step(s0, _batch(0), trainer.consts)
  s2, m2 = step(s1, _batch(1), trainer.consts)
  return trainer, [s0, s1, s2], [m1, m2]


@pytest.mark.slow
@SLOW
def test_schedule_switches_on_copies_the_teacher_and_follows_the_ema(silc_run):
  _, (s0, s1, s2), (m1, m2) = silc_run
  # Before the switch: weights 0, teacher and centres untouched; the student trained.
  assert float(m1["distill_weight"]) == 0.0 and float(m1["masked_weight"]) == 0.0
  assert float(m2["distill_weight"]) == 1.0 and float(m2["masked_weight"]) == 0.5
  jax.tree.map(np.testing.assert_array_equal, s1["teacher"], s0["teacher"])
  np.testing.assert_array_equal(s1["center"], 0.0)
  head = lambda s: s["params"]["towers"]["img"]["head"]["kernel"]
  assert not np.allclose(head(s1), head(s0))
  # At the switch the teacher is the student of that moment; the step's EMA (m = 0.5) then
  # averages it with the updated student, leaf by leaf.
  expected = ema.ema_update(teacher_part(s1["params"]), teacher_part(s2["params"]), 0.5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), s2["teacher"], expected)
  assert all(bool(jnp.isfinite(v).all()) for v in jax.tree.leaves((m1, m2)))


@pytest.mark.slow
@SLOW
def test_step_centres_with_this_steps_teacher_logits(silc_run):
  trainer, (_, s1, s2), _ = silc_run
  s = trainer.config.silc
  _, crop_key, _ = jax.random.split(s1["rng"], 3)
  g, _ = crops.multi_crop(crop_key, _batch(1)["image"], num_global=s.num_global, num_local=s.num_local,
                          global_size=32, local_size=s.local_res, augment=ViewAugment.from_config(s.get("augment")))
  # The switch step copies the student into the teacher.
  encode = jax.jit(lambda p, x: trainer._model(with_teacher(p, teacher_part(p)), trainer.consts).encode_image(x))
  _, logits, patches = encode(s1["params"], jnp.concatenate(g))
  np.testing.assert_allclose(s2["center"], 0.1 * logits.mean(axis=0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(s2["patch_center"], 0.1 * patches.reshape(-1, logits.shape[-1]).mean(axis=0),
                             rtol=1e-4, atol=1e-6)


def test_loss_weights_and_size_factor():
  s = {"switch_step": 8, "distill_weight": 0.5, "masked_weight": 0.125}
  assert [float(loss_weights(jnp.array(i), s)[1]) for i in (0, 7, 8, 9)] == [0, 0, 0.5, 0.5]
  assert [float(loss_weights(jnp.array(i), s)[2]) for i in (7, 8)] == [0, 0.125]
  assert (size_factor("B/16"), size_factor("L/14"), size_factor("So400m/14")) == (0.25, 0.5, 1.0)
  c = loader.load_config(loader.PRETRAIN, "silc:siglip2,variant=L/16,steps=1000")
  assert (c.silc.switch_step, c.silc.distill_weight, c.silc.masked_weight) == (800, 0.5, 0.125)
  assert (c.loss["name"], c.loss["sigmoid"]) == ("silc", "ring")
  assert objectives.objective_class(c.loss["name"]) is Silc


# Through the real training loop: resume across the SigLIP 2 switch (6) and no collapse (7).

def _silc_config(curated, tokenizer_dir, **silc):
  config = loader.load_config(loader.PRETRAIN, f"silc:tiny,shards={curated / 'train'},tokenizer={tokenizer_dir}")
  loader.apply_overrides(config, [f"{k}={v}" for k, v in TINY.items()])
  config.log_every = 1
  config.silc.update(silc)
  return config




@pytest.mark.slow
@SLOW
def test_resume_across_the_switch_is_exact(curated, tokenizer_dir, tmp_path):
  config = _silc_config(curated, tokenizer_dir, switch_step=3, masked_weight=0.25)
  config.total_steps, config.ckpt_every = 6, 0
  straight, split = tmp_path / "straight", tmp_path / "split"
  trainer_lib.train(config, str(straight))
  trainer_lib.train(config, str(split), stop_at_step=2)  # before the switch
  trainer_lib.train(config, str(split), stop_at_step=4)  # after it
  trainer_lib.train(config, str(split))
  a, b = saved_state(straight, 6)[0], saved_state(split, 6)[0]
  assert set(a) >= {"teacher", "center", "patch_center"}
  flat_a, tree_a = jax.tree.flatten(a)
  flat_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b, strict=True):  # student, teacher, centres, optimiser, RNG: bit for bit
    np.testing.assert_array_equal(x, y)
  assert float(np.abs(a["center"]).max()) > 0  # the centre moved after the switch


@pytest.mark.slow
@SLOW
def test_teacher_does_not_collapse_in_100_steps(curated, tokenizer_dir, tmp_path):
  config = _silc_config(curated, tokenizer_dir, masked_weight=0.25)
  config.total_steps, config.log_every = 100, 10
  trainer_lib.train(config, str(tmp_path))
  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  rows = [r for r in rows if "teacher_marginal_entropy" in r]
  assert rows and rows[-1]["step"] == 100
  # Entropy of the teacher's batch-mean distribution, in units of log K: 0 is one prototype for every image.
  assert min(r["teacher_marginal_entropy"] for r in rows) > 0.1, rows
  assert all(np.isfinite(r["loss"]) for r in rows)
