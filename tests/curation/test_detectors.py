"""The colour-blob detector and the RGB decode it runs on: exact boxes on drawn pictures, bad bytes never raise."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from tests.curation import samples
from webpairs.curation import detectors, image, reasons
from webpairs.eval.metrics import box_iou
from webpairs.demo.sample import scenes


def _canvas(width: int, height: int, colour: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
  img = Image.new("RGB", (width, height), detectors.NAMED_COLOURS[colour])
  return img, ImageDraw.Draw(img)


def test_blobs_of_named_colours_get_their_exact_boxes():
  img, draw = _canvas(200, 100, "white")
  draw.rectangle((20, 10, 59, 49), fill=detectors.NAMED_COLOURS["red"])  # x0, y0, x1, y1 inclusive
  draw.ellipse((120, 40, 179, 89), fill=detectors.NAMED_COLOURS["blue"])
  draw.rectangle((100, 5, 101, 6), fill=detectors.NAMED_COLOURS["green"])  # 4 pixels: a speck, not a shape
  found = detectors.find_blobs(np.asarray(img))
  assert found == [
      {"text": "blue shape", "box": [0.4, 0.6, 0.9, 0.9]},
      {"text": "red shape", "box": [0.1, 0.1, 0.5, 0.3]},
  ]


def test_background_tones_are_not_shapes():
  img, draw = _canvas(160, 160, "white")
  for x in range(0, 160, 40):  # stripes of white and gray, as a striped sample background
    draw.rectangle((x, 0, x + 19, 159), fill=detectors.NAMED_COLOURS["gray"])
  draw.rectangle((50, 50, 109, 109), fill=detectors.NAMED_COLOURS["orange"])
  assert detectors.background_colours(
      detectors.nearest_colour(np.asarray(img), tuple(detectors.NAMED_COLOURS.items()), 40.0), len(detectors.NAMED_COLOURS),
      0.25) == {list(detectors.NAMED_COLOURS).index("white"), list(detectors.NAMED_COLOURS).index("gray")}
  assert detectors.find_blobs(np.asarray(img)) == [{"text": "orange shape", "box": [0.3125, 0.3125, 0.6875, 0.6875]}]


def test_large_images_are_subsampled_within_one_step_of_the_box():
  img, draw = _canvas(1000, 600, "black")
  draw.rectangle((301, 97, 702, 480), fill=detectors.NAMED_COLOURS["yellow"])
  (found,) = detectors.find_blobs(np.asarray(img))
  step = 4  # ceil(1000 / 256)
  assert found["text"] == "yellow shape"
  truth = [97 / 600, 301 / 1000, 481 / 600, 703 / 1000]
  assert np.abs(np.array(found["box"]) - truth).max() <= step / 600


def test_shapes_of_sample_scenes_are_found():
  rng = np.random.default_rng(5)
  hits = total = 0
  for _ in range(30):
    scene = scenes.random_scene(rng, 240, 180)
    found = detectors.find_blobs(np.asarray(scenes.render(scene)))
    last = scenes.objects(scene)[-1]  # drawn last, so never covered
    x0, y0, x1, y1 = last["box"]
    want = [y0 / 180, x0 / 240, y1 / 180, x1 / 240]
    total += 1
    hits += any(f["text"] == f"{last['colour']} shape" and box_iou(f["box"], want) >= 0.5 for f in found)
  assert hits / total >= 0.8, (hits, total)



def test_decode_rgb_guards_like_annotate():
  rgba = Image.new("RGBA", (30, 20), (255, 0, 0, 0))
  decoded = image.decode_rgb(samples.encode(rgba, "PNG"))
  assert decoded.status == reasons.OK and decoded.pixels.shape == (20, 30, 3)
  assert decoded.pixels.dtype == np.uint8 and (decoded.pixels == 255).all()  # transparent -> white
  gray = image.decode_rgb(samples.encode(samples.photo(0, 64, 48, "L"), "JPEG"))
  assert gray.pixels.shape == (48, 64, 3)
  jpeg = samples.encode(samples.photo(0, 640, 480), "JPEG", quality=90)
  for data, status in [(b"", reasons.CORRUPT_IMAGE), (b"\x00" * 50, reasons.CORRUPT_IMAGE),
                       (jpeg[:3000], reasons.TRUNCATED_IMAGE),
                       (samples.png_header_only(50_000, 50_000), reasons.DECOMPRESSION_BOMB)]:
    decoded = image.decode_rgb(data)
    assert (decoded.pixels, decoded.status) == (None, status), decoded.detail
  small = image.decode_rgb(jpeg, max_pixels=1000)
  assert small.status == reasons.DECOMPRESSION_BOMB and small.pixels is None
