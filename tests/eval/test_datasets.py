"""Loaders: the real metadata in shared data, fixtures in the published schemas of the rest, missing images."""

from __future__ import annotations

import collections
import os
import shutil

import pytest

from tests.eval import schemas
from webpairs.eval import datasets
from webpairs.eval.datasets import dollarstreet, geode, gldv2, marvl, xm3600


@pytest.fixture(scope="module")
def dollarstreet_real(shared_data):
  return dollarstreet.parse_metadata_csv(str(shared_data / "eval_metadata" / "dollarstreet" / "metadata.csv"))


def test_dollarstreet_real_metadata(dollarstreet_real):
  ds = dollarstreet_real
  assert len(ds) == 13_565
  assert len(set(ds.attributes["country"])) == 54
  assert set(ds.attributes["region"]) == {"Africa", "Asia", "Europe", "The Americas"}
  assert set(ds.attributes["income"]) == set(dollarstreet.INCOME_BUCKETS)
  assert ds.ordered_groups("income") == list(dollarstreet.INCOME_BUCKETS)
  assert ds.num_classes == 84  # Dollar Street topics in the label column
  assert ("cooking pots",) in ds.classnames
  assert sum(len(lab) > 1 for lab in ds.labels) == 551  # multi-label images: any-match matters
  # File names are the urls' last parts, %-escapes decoded (a few photos have no .jpg suffix).
  assert all(p.startswith("480x480-") for p in ds.paths)
  assert sum(p.endswith((".jpg", ".jpeg")) for p in ds.paths) == 13_439
  assert len(set(ds.paths)) == len(ds)


def test_dollarstreet_real_imagenet_classes_have_aliases(shared_data):
  ds = dollarstreet.parse_metadata_csv(str(shared_data / "eval_metadata" / "dollarstreet" / "metadata.csv"),
                                       classes="imagenet")
  assert ("pan", "cooking pan") in ds.classnames
  assert all(names for names in ds.classnames)


def test_missing_images_are_one_clear_error(shared_data, tmp_path):
  shutil.copy(shared_data / "eval_metadata" / "dollarstreet" / "metadata.csv", tmp_path / "metadata.csv")
  first = dollarstreet.parse_metadata_csv(str(tmp_path / "metadata.csv")).paths[0]
  (tmp_path / "images").mkdir()
  (tmp_path / "images" / first).write_bytes(b"present")
  with pytest.raises(datasets.MissingImagesError) as e:
    datasets.load("dollarstreet", str(tmp_path))
  msg = str(e.value)
  assert "13564 of 13565 images are missing" in msg and str(tmp_path / "images") in msg
  assert first not in msg and msg.count("480x480-") == 5 and ", ..." in msg
  assert len(datasets.load("dollarstreet", str(tmp_path), check=False)) == 13_565


def test_income_buckets():
  assert [dollarstreet.income_bucket(x) for x in (27, 200, 200.01, 685, 1998, 1998.5, 1e4)] == [
      "0-200", "0-200", "200-685", "200-685", "685-1998", ">1998", ">1998"]


def test_dollarstreet_mlcommons_format(tmp_path):
  schemas.mlcommons_dollarstreet(tmp_path)
  ds = datasets.load("dollarstreet", str(tmp_path))
  assert ds.paths[0] == "assets/5d4bde1d/5d4bde1d.jpg" and ds.root == str(tmp_path)
  assert ds.attributes["region"] == ("Africa", "Asia", "Europe", "The Americas")
  assert ds.attributes["income"] == ("0-200", "200-685", ">1998", "685-1998")
  # ImageNet ids sorted numerically, named by their synonyms; the India image accepts either.
  assert ds.classnames == (("frying pan",), ("stove",), ("toothbrush",))
  assert ds.labels[1] == frozenset({0, 1})
  topics = datasets.load("dollarstreet", str(tmp_path), classes="topics")
  assert topics.classnames == (("cooking pots",), ("stoves",), ("toothbrushes",))
  os.remove(tmp_path / "assets/5d4c1f22/5d4c1f22.jpg")
  with pytest.raises(datasets.MissingImagesError, match="1 of 4 images"):
    datasets.load("dollarstreet", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="images_v2_imagenet_train.csv"):
    datasets.load("dollarstreet", str(tmp_path), split="train")


def test_geode_real_metadata(shared_data):
  meta = shared_data / "eval_metadata" / "geode"
  classes = geode.read_classes(str(meta / "imagenet_synsets.csv"))
  regions = geode.read_regions(str(meta / "country_to_region.csv"))
  assert len(classes) == 40 and classes[0] == "Backyard"
  assert len(regions) == 43
  assert set(regions.values()) == {"Africa", "Americas", "EastAsia", "Europe", "SouthEastAsia", "WestAsia"}
  names = geode.classnames(classes)
  assert ("hairbrush", "comb") in names and ("cleaning equipment",) in names


def test_geode_index_schema(shared_data, tmp_path):
  shutil.copy(shared_data / "eval_metadata" / "geode" / "imagenet_synsets.csv", tmp_path)
  shutil.copy(shared_data / "eval_metadata" / "geode" / "country_to_region.csv", tmp_path)
  rows = [("images/bag/bag_001.jpg", "bag", "Africa", "South Africa"),
          ("images/stove/stove_001.jpg", "stove", "EastAsia", "Japan"),
          ("images/hairbrush_comb/h_001.jpg", "hairbrush_comb", "Europe", "United_Kingdom")]
  schemas.geode_index(tmp_path, rows)
  ds = datasets.load("geode", str(tmp_path))
  assert ds.num_classes == 40
  assert [ds.classnames[min(lab)] for lab in ds.labels] == [("bag",), ("stove",), ("hairbrush", "comb")]
  assert ds.attributes["country"] == ("South Africa", "Japan", "United Kingdom")
  assert ds.attributes["region"] == ("Africa", "EastAsia", "Europe")
  schemas.geode_index(tmp_path, rows + [("images/x.jpg", "spaceship", "Europe", "France")], with_images=False)
  with pytest.raises(ValueError, match="spaceship"):
    datasets.load("geode", str(tmp_path), check=False)


def test_gldv2_schema(tmp_path):
  schemas.gldv2(tmp_path)
  ds = gldv2.parse(str(tmp_path))
  # Ignored and unmatched queries are dropped; a query matching two landmarks accepts both.
  assert ds.paths == ("test/0/1/2/0123456789abcdef.jpg", "test/1/1/2/1123456789abcdef.jpg")
  assert ds.classnames == (("Haleakalā National Park",), ("Kazan Kremlin",))
  assert ds.labels == (frozenset({1}), frozenset({0, 1}))
  index = gldv2.parse(str(tmp_path), split="index")
  assert index.paths[2] == "index/f/0/e/f0e1d2c3b4a50003.jpg" and len(index) == 3
  with pytest.raises(datasets.MissingImagesError, match="2 of 2 images"):
    datasets.load("gldv2", str(tmp_path))
  schemas.images(tmp_path, [(p, "red") for p in ds.paths])
  assert len(datasets.load("gldv2", str(tmp_path))) == 2


def test_xm3600_real_image_ids(shared_data):
  ids = xm3600.read_image_ids(str(shared_data / "eval_metadata" / "xm3600" / "image_ids.txt"))
  assert len(ids) == len(set(ids)) == 3600
  with open(shared_data / "eval_metadata" / "xm3600" / "image_shapes.csv", encoding="utf-8") as f:
    assert {line.split(",")[0] for line in f if line.strip()} == set(ids)
  assert len(xm3600.LANGUAGES) == 36


def test_xm3600_schema(tmp_path):
  schemas.xm3600_captions(tmp_path, [
      {"key": "000411001ff7dd4f", "captions": {"en": ["a red car", "a car"], "he": ["מכונית אדומה"],
                                               "sw": ["gari nyekundu"]}},
      {"key": "0004886b7d043cfd", "captions": {"en": ["a blue door"], "he": ["דלת כחולה"], "sw": ["mlango"]}},
  ])
  ds = xm3600.parse_captions(str(tmp_path / "captions.jsonl"))
  assert ds.paths == ("images/000411001ff7dd4f.jpg", "images/0004886b7d043cfd.jpg")
  assert ds.languages() == ["en", "he", "sw"]
  assert ds.text_image.tolist() == [0, 0, 0, 0, 1, 1, 1]
  # The papers' 'iw' is the captions file's 'he'.
  low = xm3600.parse_captions(str(tmp_path / "captions.jsonl"), languages=["iw", "sw"])
  assert low.languages() == ["he", "sw"] and len(low.captions) == 4
  with pytest.raises(ValueError, match="no captions in fr"):
    xm3600.parse_captions(str(tmp_path / "captions.jsonl"), languages=["fr"])
  (tmp_path / "image_ids.txt").write_text("000411001ff7dd4f\n")
  with pytest.raises(ValueError, match="0004886b7d043cfd is not in image_ids.txt"):
    datasets.load("xm3600", str(tmp_path), check=False)


def test_marvl_real_statements(shared_data):
  root = str(shared_data / "eval_metadata" / "marvl")
  files = marvl.annotation_files(root)
  assert sorted(files) == list(marvl.LANGUAGES)
  statements = {lang: marvl.read_statements(path) for lang, path in files.items()}
  assert all(900 <= len(s) <= 1300 for s in statements.values())
  ds = marvl.concept_set([s for ss in statements.values() for s in ss], root)
  assert set(ds.attributes["language"]) == set(marvl.LANGUAGES)
  per_lang = collections.Counter(ds.class_partition)
  assert all(70 <= per_lang[lang] <= 100 for lang in marvl.LANGUAGES)
  # Classes are named in their own language; images compete only among their language's concepts.
  assert ("Panci",) in ds.classnames and ("உழவு இயந்திரம்",) in ds.classnames
  mask = ds.class_mask()
  assert mask.shape == (len(ds), ds.num_classes) and (mask.sum(1) == [per_lang[x] for x in ds.attributes["language"]]).all()
  assert all(ds.class_partition[min(lab)] == lang for lab, lang in zip(ds.labels, ds.attributes["language"]))
  assert ds.paths[0].startswith("marvl-images/") and "/images/" in ds.paths[0]
  with pytest.raises(datasets.MissingImagesError):
    datasets.load("marvl", root, languages=["sw"])


def test_labelled_attribute_set(tmp_path):
  schemas.write_csv(tmp_path / "attributes.csv", ("file_path", "attribute"),
                    [("a.png", ""), ("b.png", "female"), ("c.png", "male")])
  schemas.images(tmp_path, [("a.png", "red"), ("b.png", "blue"), ("c.png", "green")])
  ds = datasets.load("labelled", str(tmp_path))
  assert ds.attribute == ("", "female", "male")
  with pytest.raises(ValueError, match="unknown eval dataset"):
    datasets.load("imagenet", str(tmp_path))
