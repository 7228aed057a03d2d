"""Evaluators on tiny folders in the published formats, scored by colour-histogram test doubles with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.eval import fakes, schemas
from webpairs.eval import registry

# Rich homes: the object fills the photo. Poor homes: a small object on a blue wall, and blue is a class too.
ROWS = [
    dict(country="Kenya", region="Africa", income=100, labels=["red"], colour="blue", spot="red"),
    dict(country="Kenya", region="Africa", income=150, labels=["green"], colour="blue", spot="green"),
    dict(country="Kenya", region="Africa", income=120, labels=["blue"], colour="blue"),
    dict(country="France", region="Europe", income=3000, labels=["red"], colour="red"),
    dict(country="France", region="Europe", income=2500, labels=["green"], colour="green"),
    dict(country="France", region="Europe", income=4000, labels=["blue", "green"], colour="green"),
    dict(country="Japan", region="Asia", income=500, labels=["red"], colour="red"),
    dict(country="Japan", region="Asia", income=600, labels=["green"], colour="blue", spot="green"),
]


@pytest.fixture()
def data_root(tmp_path):
  schemas.dollarstreet_metadata(tmp_path / "ds", ROWS)
  return tmp_path


def zero_shot(data_root, **kw):
  config = dict(type="zero_shot", dataset="dollarstreet", data_dir="ds", batch_size=3)
  config.update({"templates": ["a photo of a {}."], **kw})
  return registry.build(config, data_root=str(data_root))


def test_zero_shot_per_group_accuracy_and_disparity(data_root):
  out = dict(zero_shot(data_root).run(fakes.ColourModel()))
  # Wrong: the three small objects on blue walls (rows 0, 1, 7).
  assert out["accuracy"] == 5 / 8 and out["chance"] == pytest.approx((7 * 1 / 3 + 2 / 3) / 8)
  assert out["accuracy/income/0-200"] == 1 / 3 and out["accuracy/income/200-685"] == 0.5
  assert out["accuracy/income/>1998"] == 1.0 and "accuracy/income/685-1998" not in out
  assert out["accuracy_disparity/income"] == pytest.approx(2 / 3)
  assert out["accuracy_worst/income"] == 1 / 3
  assert out["accuracy/country/France"] == 1.0 and out["accuracy_disparity/country"] == pytest.approx(2 / 3)
  # Groups come out in income order, not alphabetically.
  keys = [k for k in out if k.startswith("accuracy/income/")]
  assert keys == ["accuracy/income/0-200", "accuracy/income/200-685", "accuracy/income/>1998"]


def test_zero_shot_aliases_and_groups(data_root):
  # An alias without a colour word dilutes 'red' towards uniform, so poor homes' red on blue is still lost
  # and the solid red ones are still found; the 'groups' key limits the breakdown.
  out = dict(zero_shot(data_root, aliases={"red": ["crimson thing"]}, groups=["region"]).run(fakes.ColourModel()))
  assert out["accuracy"] == 5 / 8
  assert not any(k.startswith("accuracy/income/") for k in out) and "accuracy/region/Asia" in out


def test_zero_shot_on_attribute_target(data_root):
  # Zero-shot geo-localization: classes are countries; a colour model knows no countries: ties -> first class.
  out = dict(zero_shot(data_root, target="country", templates="Country211").run(fakes.ColourModel()))
  assert out["chance"] == pytest.approx(1 / 3)
  assert out["accuracy"] == 3 / 8  # everything predicted 'France' (first in sorted order)


def test_captioner_scores_give_the_same_answers(data_root):
  emb = dict(zero_shot(data_root).run(fakes.ColourModel()))
  cap = dict(zero_shot(data_root).run(fakes.ColourScorer()))
  assert cap == pytest.approx(emb)


def test_constant_model_is_not_above_chance(data_root):
  out = dict(zero_shot(data_root).run(fakes.ConstantModel()))
  assert out["accuracy"] <= out["chance"] + 0.2


def test_fewshot_geolocalization(data_root):
  ev = registry.build(dict(type="fewshot", dataset="dollarstreet", data_dir="ds", targets=["region", "label"],
                           shots=[1], seeds=4), data_root=str(data_root))
  model = fakes.ColourModel()
  out = dict(ev.run(model))
  assert model.images_seen == 8
  for key in ("region/1shot", "region/1shot_std", "region/1shot_chance", "label/1shot"):
    assert key in out
  assert out["region/1shot_chance"] == 1 / 3 and 0 <= out["region/1shot"] <= 1
  again = dict(ev.run(fakes.ColourModel()))
  assert again == out  # fixed for its seeds


def test_fewshot_separates_countries_by_colour(tmp_path):
  # Each country's objects (spots) come in the colours of the other countries' walls.
  walls = {"A": "red", "B": "blue", "C": "green"}
  rows = [dict(country=c, region="R", income=100 + i, labels=["x"], colour=wall, spot=spot)
          for c, wall in walls.items()
          for i, spot in enumerate([w for w in walls.values() if w != wall] * 3)]
  schemas.dollarstreet_metadata(tmp_path / "ds", rows)
  ev = registry.build(dict(type="fewshot", dataset="dollarstreet", data_dir="ds", targets=["country"],
                           shots=[2], seeds=[0, 1, 2]), data_root=str(tmp_path))
  out = dict(ev.run(fakes.ColourModel()))
  assert out["country/2shot"] >= 0.9 and out["country/2shot_chance"] == 1 / 3
  assert dict(ev.run(fakes.ConstantModel()))["country/2shot"] <= 0.5


def test_retrieval_per_language(tmp_path):
  colours = ["red", "blue", "green", "yellow"]
  swahili = {"red": "nyekundu", "blue": "bluu", "green": "kijani", "yellow": "njano"}
  schemas.xm3600_captions(tmp_path / "xm", [
      {"key": f"{i:016x}", "captions": {"en": [f"a {c} picture", f"something {c}"], "de": [f"ein Bild {i}"],
                                        "sw": [f"picha {swahili[c]}"]}} for i, c in enumerate(colours)])
  schemas.images(tmp_path / "xm", [(f"images/{i:016x}.jpg", c) for i, c in enumerate(colours)])
  ev = registry.build(dict(type="retrieval", dataset="xm3600", data_dir="xm", ks=[1, 2]), data_root=str(tmp_path))
  out = dict(ev.run(fakes.ColourModel()))
  # English names the colours: perfect. The model knows no German or Swahili: (near-)ties, at most chance.
  assert out["i2t_r1/language/en"] == out["t2i_r1/language/en"] == 1.0
  for lang in ("de", "sw"):
    assert out[f"i2t_r1/language/{lang}"] <= 0.25 and out[f"t2i_r1/language/{lang}"] <= 0.25
  assert out["i2t_r1"] == pytest.approx(np.mean([out[f"i2t_r1/language/{x}"] for x in ("de", "en", "sw")]))
  assert out["i2t_r1_disparity/language"] >= 0.75
  assert out["i2t_r1/low_resource"] == out["i2t_r1/language/sw"]  # sw is low-resource; en and de are not
  assert out["chance_r1"] == 0.25 and out["languages"] == 3


def test_bias(tmp_path):
  rows = [("p0.png", "", "red"), ("p1.png", "", "red"), ("p2.png", "", "red"), ("p3.png", "", "blue"),
          ("f0.png", "female", "green"), ("f1.png", "female", "green"), ("m0.png", "male", "yellow"),
          ("m1.png", "male", "green")]
  schemas.write_csv(tmp_path / "bias" / "attributes.csv", ("file_path", "attribute"), [r[:2] for r in rows])
  schemas.images(tmp_path / "bias", [(r[0], r[2]) for r in rows])
  ev = registry.build(dict(type="bias", dataset="labelled", data_dir="bias",
                           attribute_prompts={"female": "a red person", "male": "a blue person"},
                           occupations=[["green", "yellow"]], occupation_template="a {} worker"),
                      data_root=str(tmp_path))
  out = dict(ev.run(fakes.ColourModel()))
  assert out["representation_bias"] == 0.25  # 3 of 4 people-free images go to the first prompt
  # 'green worker' wins for both women and for one of two men.
  assert out["association_bias/green-yellow"] == 0.5 and out["association_bias_mean_abs"] == 0.5


def test_bad_configs(data_root):
  with pytest.raises(ValueError, match="unknown eval type"):
    registry.build(dict(type="captioning", dataset="dollarstreet", data_dir="ds"), data_root=str(data_root))
  with pytest.raises(ValueError, match="unknown config keys"):
    zero_shot(data_root, shots=[5])
  with pytest.raises(ValueError, match="no attribute"):
    zero_shot(data_root, groups=["language"])
  with pytest.raises(KeyError, match="no prompts|no CLIP prompts"):
    zero_shot(data_root, templates="ImageNet-X")
