"""Ground-truth regions of drawn scenes: normalised, in LocCa's coordinate order, off-image objects dropped."""

import pytest

from webpairs.demo.sample import regions
from webpairs.demo.sample.plan import plan_sample


def test_normalised_box_order_and_scale():
  assert regions.normalised_box([10, 20, 30, 60], 100, 80) == [0.25, 0.1, 0.75, 0.3]


def test_normalised_box_clips_to_image():
  assert regions.normalised_box([-5, 0, 120, 40], 100, 80) == [0.0, 0.0, 0.5, 1.0]


def test_bad_image_size_is_an_error():
  with pytest.raises(ValueError, match="positive"):
    regions.normalised_box([0, 0, 1, 1], 0, 10)


def test_objects_without_area_are_dropped():
  objects = [{"shape": "star", "colour": "red", "box": [0, 0, 10, 10]},
             {"shape": "circle", "colour": "blue", "box": [100, 5, 100, 9]}]
  assert regions.regions_from_objects(objects, 100, 50) == [{"text": "red star", "box": [0.0, 0.0, 0.2, 0.1]}]


def test_sample_scenes_regions_cover_their_objects():
  plan = plan_sample(20, 0, shard_size=20)
  for ex in plan.examples:
    if ex.scene is None or not ex.objects or ex.width is None:
      continue
    got = regions.regions_from_objects(ex.objects, ex.width, ex.height)
    assert len(got) == len(ex.objects)
    for region, obj in zip(got, ex.objects):
      assert region["text"] == f"{obj['colour']} {obj['shape']}"
      ymin, xmin, ymax, xmax = region["box"]
      assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1
      assert round(xmin * ex.width) == obj["box"][0] and round(ymax * ex.height) == obj["box"][3]
