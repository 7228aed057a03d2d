"""Zero-shot any-match, per-group accuracy, disparity, R@k and bias metrics on hand-built inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from webpairs.eval import metrics


def test_zero_shot_any_match():
  # Image i points along axis i % 3; class c along axis c.
  img = np.eye(3)[[0, 1, 2, 0]]
  cls = np.eye(3)
  assert metrics.zero_shot_accuracy(img, cls, [{0}, {1}, {2}, {0}]) == 1.0
  # The last image is predicted 0: right when 0 is one of its acceptable classes, wrong otherwise.
  assert metrics.zero_shot_accuracy(img, cls, [{0}, {1}, {2}, {1, 2}]) == 0.75
  assert metrics.zero_shot_accuracy(img, cls, [{0}, {1}, {2}, {2, 0}]) == 1.0
  assert metrics.zero_shot_accuracy(img, cls, [{1}, {0}, {0}, {1}]) == 0.0


def test_zero_shot_class_mask_limits_candidates():
  img = np.asarray([[1.0, 0.2], [1.0, 0.2]])
  cls = np.eye(2)
  mask = np.asarray([[True, True], [False, True]])  # the second image may only pick class 1
  np.testing.assert_array_equal(metrics.zero_shot_predictions(img, cls, mask), [0, 1])


def test_accuracy_by_group_and_disparity():
  correct = np.asarray([1, 0, 1, 1, 0, 0, 1])
  groups = ["a", "a", "b", "b", "c", "c", ""]  # "" (no group) is left out
  by_group = metrics.accuracy_by_group(correct, groups)
  assert by_group == {"a": 0.5, "b": 1.0, "c": 0.0}
  assert metrics.disparity(by_group) == 1.0
  assert metrics.disparity({"x": 0.9, "y": 0.5, "z": 0.7}) == pytest.approx(0.4)
  assert metrics.disparity({"only": 0.3}) == 0.0
  with pytest.raises(ValueError):
    metrics.disparity({})


def test_retrieval_recall_hand_built():
  sim = np.asarray([
      [0.9, 0.1, 0.0, 0.0],  # image 0: its text first
      [0.8, 0.7, 0.0, 0.0],  # image 1: its text second
      [0.0, 0.0, 0.1, 0.5],  # image 2: its text second
      [0.0, 0.0, 0.0, 0.2],  # image 3: its text first... but text 3 prefers image 2
  ])
  # i2t@1: images 0 and 3 -> 0.5. t2i@1: text 0 -> image 0 (yes), text 1 -> image 1 (0.7 vs 0.1: yes),
  # text 2 -> image 2 (0.1, yes), text 3 -> image 2 (0.5 > 0.2: no) -> 0.75.
  assert metrics.retrieval_recall(sim, 1) == (0.5, 0.75)
  assert metrics.retrieval_recall(sim, 2) == (1.0, 1.0)
  assert metrics.retrieval_recall(sim, 10) == (1.0, 1.0)
  with pytest.raises(ValueError):
    metrics.retrieval_recall(sim[:3], 1)
  with pytest.raises(ValueError):
    metrics.retrieval_recall(sim, 0)


def test_retrieval_ties_count_against_the_query():
  sim = np.zeros((5, 5))
  assert metrics.retrieval_recall(sim, 1) == (0.0, 0.0)
  assert metrics.retrieval_recall(sim, 4) == (0.0, 0.0)
  assert metrics.retrieval_recall(sim, 5) == (1.0, 1.0)


def test_retrieval_several_texts_per_image():
  # Texts 0, 1 describe image 0; text 2 image 1; text 3 image 2.
  text_image = np.asarray([0, 0, 1, 2])
  sim = np.asarray([
      [0.2, 0.9, 0.5, 0.0],  # image 0: its text 1 is best -> hit
      [0.0, 0.0, 0.3, 0.4],  # image 1: text 3 beats its text 2 -> miss at 1, hit at 2
      [0.0, 0.0, 0.0, 0.1],  # image 2: hit
  ])
  # t2i@1: texts 0 and 1 hit image 0; text 2 scores image 0 (0.5) above its image 1 (0.3): miss;
  # text 3 scores image 1 (0.4) above its image 2 (0.1): miss.
  assert metrics.retrieval_recall(sim, 1, text_image=text_image) == (pytest.approx(2 / 3), 0.5)
  assert metrics.retrieval_recall(sim, 2, text_image=text_image) == (1.0, 1.0)
  with pytest.raises(ValueError):
    metrics.retrieval_recall(sim, 1, text_image=np.asarray([0, 0, 1, 3]))


def test_retrieval_identical_captions_count_as_the_same_text():
  sim = np.eye(4)[:, [1, 0, 2, 3]]  # images 0 and 1 prefer each other's text...
  ids = np.asarray([7, 7, 8, 9])  # ...which is the same caption
  assert metrics.retrieval_recall(sim, 1) == (0.5, 0.5)
  assert metrics.retrieval_recall(sim, 1, text_ids=ids) == (1.0, 1.0)
  right = metrics.retrieval_matches(np.arange(4), 4, ids).sum(axis=0)
  assert right.tolist() == [2, 2, 1, 1]
  assert metrics.chance_recall(right, 4, 1) == (2 + 2 + 1 + 1) / 16
  # Two draws among four images: a text with one right image finds it half the time, with two 5/6 of the time.
  assert metrics.chance_recall(right, 4, 2) == pytest.approx((5 / 6 + 5 / 6 + 0.5 + 0.5) / 4)
  assert metrics.chance_recall(np.ones(5), 5, 7) == 1.0


def test_retrieval_shifted_embeddings_rank_second():
  z = np.eye(6)
  # Text i lies mostly along image i+1 and a little along image i: its own image ranks second.
  sim = z @ (0.9 * np.roll(z, 1, axis=1) + 0.1 * z).T
  assert metrics.retrieval_recall(sim, 1) == (0.0, 0.0)
  assert metrics.retrieval_recall(sim, 2) == (1.0, 1.0)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**16))
def test_retrieval_of_a_permuted_perfect_matrix(n, seed):
  rng = np.random.default_rng(seed)
  sim = rng.uniform(0, 1, (n, n))
  sim[np.arange(n), np.arange(n)] = 2.0  # every pair beats everything else
  perm = rng.permutation(n)
  # Reordering images and texts together keeps the matches on the diagonal.
  assert metrics.retrieval_recall(sim[perm][:, perm], 1) == (1.0, 1.0)
  # Moving text 0's column elsewhere breaks exactly the pairs it touches.
  shifted = np.roll(sim, 1, axis=1)
  i2t, t2i = metrics.retrieval_recall(shifted, 1)
  assert i2t == 0.0 and t2i == 0.0


def test_representation_bias():
  scores = np.asarray([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.1, 0.9]])
  assert metrics.representation_bias(scores) == 0.25  # 3 of 4 to the first prompt
  assert metrics.representation_bias(np.asarray([[0.5, 0.5], [0.1, 0.9]])) == -0.25  # a tie counts half
  with pytest.raises(ValueError):
    metrics.representation_bias(np.zeros((3, 3)))


def test_association_bias():
  scores = np.asarray([[1, 0], [1, 0], [0, 1], [1, 0], [0, 1], [0, 1]], float)
  attribute = ["a", "a", "a", "b", "b", "b"]
  # P(first | a) = 2/3, P(first | b) = 1/3.
  assert metrics.association_bias(scores, attribute, "a", "b") == pytest.approx(1 / 3)
  assert metrics.association_bias(scores, attribute, "b", "a") == pytest.approx(-1 / 3)
  with pytest.raises(ValueError):
    metrics.association_bias(scores, attribute, "a", "c")


def test_box_iou_exact_values():
  unit = np.array([0.0, 0.0, 1.0, 1.0])
  assert metrics.box_iou(unit, unit) == 1.0
  assert metrics.box_iou(unit, [0.0, 0.0, 0.5, 0.5]) == 0.25  # nested: the small box's area
  assert metrics.box_iou(unit, [0.0, 0.5, 1.0, 1.5]) == pytest.approx(1 / 3)  # 0.5 shared of 1.5
  # (ymin, xmin, ymax, xmax): a box 0.2 tall and 0.6 wide against one 0.6 tall and 0.2 wide, crossing in 0.2 x 0.2.
  assert metrics.box_iou([0.4, 0.2, 0.6, 0.8], [0.2, 0.4, 0.8, 0.6]) == pytest.approx(0.04 / 0.2)
  assert metrics.box_iou(unit, [1.0, 0.0, 2.0, 1.0]) == 0.0  # touching edges share no area
  assert metrics.box_iou([0.5, 0.5, 0.5, 0.9], [0.5, 0.5, 0.5, 0.9]) == 0.0  # empty boxes
  # Broadcasting: one box against many, and row against row.
  many = np.array([unit, [0.0, 0.0, 0.5, 0.5], [2.0, 2.0, 3.0, 3.0]])
  np.testing.assert_array_equal(metrics.box_iou(unit, many), [1.0, 0.25, 0.0])
  np.testing.assert_array_equal(metrics.box_iou(many, many), [1.0, 1.0, 1.0])
  with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
    metrics.box_iou(unit[:3], unit)
