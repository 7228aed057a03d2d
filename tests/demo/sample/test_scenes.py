"""Scenes: deterministic pixels, boxes that hold their shapes, varied sizes."""

import numpy as np

from webpairs.demo.sample import images
from webpairs.demo.sample import scenes


def test_render_is_deterministic():
  rng = np.random.default_rng(0)
  for _ in range(10):
    scene = scenes.random_scene(rng, *scenes.random_size(rng))
    a, b = scenes.render(scene), scenes.render(scene)
    assert a.size == (scene.width, scene.height)
    assert a.tobytes() == b.tobytes()
    for fmt in images.FORMATS:
      assert images.encode(a, fmt, 80) == images.encode(b, fmt, 80)


def test_boxes_are_inside_and_hold_the_shape_colour():
  rng = np.random.default_rng(1)
  for _ in range(60):
    scene = scenes.random_scene(rng, *scenes.random_size(rng, min_side=32))
    objs = scenes.objects(scene)
    assert 1 <= len(objs) <= 4
    assert len({(o["colour"], o["shape"]) for o in objs}) == len(objs)
    pixels = np.asarray(scenes.render(scene), np.int32)
    # The last drawn shape is never covered: most of its box is its colour.
    last = objs[-1]
    x0, y0, x1, y1 = last["box"]
    assert 0 <= x0 < x1 <= scene.width and 0 <= y0 < y1 <= scene.height
    patch = pixels[y0:y1, x0:x1]
    near = np.abs(patch - np.asarray(scenes.COLOURS[last["colour"]])).sum(-1) < 30
    assert near.mean() > 0.25, (last, near.mean())
    assert all(o["colour"] != scene.background.colour for o in objs)


def test_sizes_span_icons_to_large_photos():
  rng = np.random.default_rng(2)
  sides = [max(scenes.random_size(rng)) for _ in range(2000)]
  assert min(sides) <= 20 and max(sides) >= 1500
  assert all(min(scenes.random_size(rng, min_side=128)) >= 128 for _ in range(50))


def test_near_dup_edit_moves_boxes_with_the_pixels():
  edit = images.NearDupEdit("crop", "png", 0, crop=(0.02, 0.03, 0.01, 0.0))
  assert edit.crop_box(200, 100) == (4, 3, 198, 100)
  assert edit.output_size(200, 100) == (194, 97)
  assert edit.move_box([10, 10, 50, 40], 200, 100) == [6, 7, 46, 37]
  assert edit.move_box([0, 0, 3, 2], 200, 100) is None
  half = images.NearDupEdit("resize", "jpeg", 80, scale=0.5)
  assert half.output_size(201, 100) == (100, 50)
  assert half.move_box([10, 11, 51, 40], 201, 100) == [4, 5, 26, 20]
