"""A small labelled eval set of drawn scenes, written in Dollar Street's and XM3600's published formats.

What a model trained on `webpairs sample` data can learn shows up in it:
- class: the colour of the picture's main shape (zero-shot prompts name it, e.g. "red circle");
- "country": the background colour; countries pair up into "regions" (geo-localization cue);
- income bucket: clutter, as in real photos of poorer homes: the poorer, the more small
  distractor shapes and the busier the background, so accuracy differs by income;
- captions in several languages, made by the sample generator's caption templates.

Layout (one folder, read by both loaders): metadata.csv (Dollar Street metadata.csv
columns), captions.jsonl (XM3600 format), images/<key>.jpg.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pathlib

import numpy as np

from webpairs.eval.datasets import dollarstreet, xm3600
from webpairs.demo.sample import captions, images, scenes

CLASS_COLOURS = ("red", "blue", "green", "yellow", "purple")
# country -> (region, background colour). Fictional names: nothing here is about real places.
COUNTRIES: dict[str, tuple[str, str]] = {
    "Avalon": ("Northmark", "white"),
    "Brigadoon": ("Northmark", "gray"),
    "Cockaigne": ("Southmark", "black"),
    "Erewhon": ("Southmark", "brown"),
    "Lilliput": ("Eastmark", "orange"),
    "Utopia": ("Eastmark", "pink"),
}
# Income bucket -> (monthly income range in USD, distractor shapes, main shape radius / side, background kinds).
INCOME: dict[str, tuple[tuple[float, float], int, float, tuple[str, ...]]] = {
    "0-200": ((30.0, 200.0), 3, 0.2, ("noise", "checker")),
    "200-685": ((200.0, 685.0), 2, 0.23, ("stripes", "noise")),
    "685-1998": ((685.0, 1998.0), 1, 0.27, ("gradient", "stripes")),
    ">1998": ((1998.0, 8000.0), 0, 0.3, ("flat", "gradient")),
}
LANGUAGES = ("en", "de", "es", "fr", "ja", "zh", "hi", "sw")
CAPTIONS_PER_LANGUAGE = 2
MAX_SHAPES = 4
SECOND_LABEL_SHARE = 0.1  # images with two main shapes of different classes (any-match)
URL = "http://synthetic.webpairs.invalid/media/{country}/image/{key}/{key}.jpg"
METADATA_COLUMNS = ("", "country", "url", "income", "lat", "lng", "region", "label", "sin21k_targets_alibaba",
                    "sin21k_labels_alibaba", "sin21k_targets", "sin21k_labels")
# Zero-shot prompts in the words of the sample captions; every class is named once per shape.
TEMPLATES = ("This is a simple drawing of a {}.", "An illustration with a {} in front of a background.")


def class_aliases() -> dict[str, list[str]]:
  """{'red': ['red circle', 'red square', ...]}: zero-shot averages each colour over all shapes."""
  return {c: [f"{c} {s}" for s in scenes.SHAPES] for c in CLASS_COLOURS}


@dataclasses.dataclass(frozen=True)
class EvalSummary:
  output_dir: str
  num_images: int
  metadata: str
  captions: str
  labels: dict[str, int]
  countries: dict[str, int]
  incomes: dict[str, int]


def _shape(rng: np.random.Generator, kind: str, colour: str, r: float, side: int) -> scenes.Shape:
  rx = ry = r
  if kind in ("ellipse", "rectangle"):
    rx = r / 1.7 if rng.random() < 0.5 else r
    ry = r if rx < r else r / 1.7
  angle = float(rng.uniform(0, 360)) if kind in ("triangle", "star", "hexagon") else 0.0
  return scenes.Shape(kind, colour, float(rng.uniform(rx, side - rx)), float(rng.uniform(ry, side - ry)), rx, ry,
                      angle)


def make_scene(rng: np.random.Generator, side: int, labels: list[str], bg_colour: str, income: str) -> scenes.Scene:
  """Main shapes (one per label, large) on the country's background, plus the income bucket's clutter."""
  _, distractors, main_scale, kinds = INCOME[income]
  bg = scenes.Background(kind=kinds[int(rng.integers(len(kinds)))], colour=bg_colour,
                         angle=float(rng.uniform(0, 360)), period=float(max(2.0, side * rng.uniform(0.12, 0.3))),
                         contrast=float(rng.uniform(0.3, 0.5)), seed=int(rng.integers(2**31)),
                         shading=float(rng.uniform(10, 25)))
  main_r = side * main_scale * (1.0 if len(labels) == 1 else 0.8)
  shapes = [_shape(rng, scenes.SHAPES[int(rng.integers(len(scenes.SHAPES)))], c, main_r, side) for c in labels]
  others = [c for c in CLASS_COLOURS if c not in labels]
  # The caption templates count up to four shapes.
  for _ in range(min(distractors, MAX_SHAPES - len(labels))):
    colour = others[int(rng.integers(len(others)))]
    shapes.append(_shape(rng, scenes.SHAPES[int(rng.integers(len(scenes.SHAPES)))], colour,
                         side * float(rng.uniform(0.1, 0.16)), side))
  # Clutter drawn first: the main shapes stay whole on top of it.
  return scenes.Scene(side, side, bg, tuple(shapes[len(labels):] + shapes[:len(labels)]))


def write_eval_set(output_dir: str | os.PathLike, num_images: int = 240, seed: int = 0, *, image_size: int = 64,
                   languages: tuple[str, ...] = LANGUAGES) -> EvalSummary:
  """Writes the set (replacing one already there); everything follows from the seed."""
  if num_images < len(COUNTRIES) * len(INCOME):
    raise ValueError(f"num_images must be at least {len(COUNTRIES) * len(INCOME)} (every country x income)")
  unknown = [x for x in languages if x not in captions.LANGUAGES]
  if unknown:
    raise ValueError(f"no caption templates for {unknown}; known: {', '.join(captions.LANGUAGES)}")
  out = pathlib.Path(output_dir)
  (out / xm3600.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(seed)
  country_names, income_names = list(COUNTRIES), list(INCOME)
  rows, caption_lines = [], []
  counts: dict[str, dict[str, int]] = {"labels": {}, "countries": {}, "incomes": {}}
  for i in range(num_images):
    # Cycle countries and incomes so every pair is present; classes at random.
    country = country_names[i % len(country_names)]
    income = income_names[(i // len(country_names)) % len(income_names)]
    region, bg_colour = COUNTRIES[country]
    first = CLASS_COLOURS[int(rng.integers(len(CLASS_COLOURS)))]
    labels = [first]
    if rng.random() < SECOND_LABEL_SHARE:
      rest = [c for c in CLASS_COLOURS if c != first]
      labels.append(rest[int(rng.integers(len(rest)))])
    scene = make_scene(rng, image_size, labels, bg_colour, income)
    key = f"{seed:04d}{i:06d}"
    data = images.encode(scenes.render(scene), "jpeg", 92)
    (out / xm3600.IMAGES_DIR / f"{key}.jpg").write_bytes(data)
    lo, hi = INCOME[income][0]
    rows.append({
        "": i, "country": country, "url": URL.format(country=country, key=key),
        "income": round(float(rng.uniform(lo, hi)), 4), "lat": 0.0, "lng": 0.0, "region": region,
        "label": repr(labels), "sin21k_targets_alibaba": "[]", "sin21k_labels_alibaba": "[]",
        "sin21k_targets": "[]", "sin21k_labels": repr([f"{c}_shape" for c in labels]),
    })
    record = {xm3600.KEY: key}
    for lang in languages:
      caps = [captions.describe(scene, lang, t % captions.NUM_TEMPLATES) for t in range(CAPTIONS_PER_LANGUAGE)]
      record[lang] = {"caption": caps}
    caption_lines.append(json.dumps(record, ensure_ascii=False))
    for name, value in (("labels", labels[0]), ("countries", country), ("incomes", income)):
      counts[name][value] = counts[name].get(value, 0) + 1

  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=METADATA_COLUMNS, lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  metadata = out / dollarstreet.METADATA_CSV
  caption_file = out / xm3600.CAPTIONS_JSONL
  _atomic_write(metadata, buf.getvalue())
  _atomic_write(caption_file, "\n".join(caption_lines) + "\n")
  return EvalSummary(str(out), num_images, str(metadata), str(caption_file), **counts)


def _atomic_write(path: pathlib.Path, text: str) -> None:
  tmp = path.with_suffix(path.suffix + ".tmp")
  tmp.write_text(text, encoding="utf-8")
  os.replace(tmp, path)
