"""Pretraining config files: big_vision-style arguments, the tiny preset, a model that builds from each.

The loader and its override syntax, shared with curation and eval configs: tests/configs/test_loader.py.
"""

from __future__ import annotations

import pytest
from flax import nnx

from webpairs.configs import loader
from webpairs.pretrain import model_factory, models, objectives, trainer


def test_siglip_config_by_arguments_and_tiny_preset():
  big = loader.load_config(loader.PRETRAIN, "webpairs/configs/pretrain/siglip.py:variant=So400m/14,res=384,batch=1024")
  assert big.model.image["variant"] == "So400m/14" and big.model.text["variant"] == "So400m"
  assert (big.input.res, big.input.batch_size, big.loss["name"], big.model.dtype) == (384, 1024, "ring", "bfloat16")
  tiny = loader.load_config(loader.PRETRAIN, "siglip:tiny")
  assert tiny.model.image["variant"] == "mu/8" and tiny.input.res == 32 and tiny.input.batch_size == 64
  assert tiny.model.dtype == "float32"
  # Explicit arguments win over the preset.
  assert loader.load_config(loader.PRETRAIN, "siglip:tiny,res=48").input.res == 48
  with pytest.raises(loader.ConfigError, match="no shipped config 'no_such_config'"):
    loader.load_config(loader.PRETRAIN, "no_such_config:tiny")


@pytest.mark.parametrize("name", loader.shipped_names(loader.PRETRAIN))
def test_every_config_file_has_a_tiny_preset_whose_model_builds(name):
  config = loader.load_config(loader.PRETRAIN, f"{name}:tiny")
  assert config.model.dtype == "float32" and config.input.res == 32 and config.input.batch_size == 64
  # An objective reading region rows (LocCa, SigLIP 2) gets them from the input.
  assert config.input.get("regions", False) == objectives.objective_class(config.loss["name"]).needs_regions
  kwargs = model_factory.model_kwargs(config, vocab_size=100)
  model = nnx.eval_shape(lambda: models.build(config.get("model_name", "two_towers"), rngs=nnx.Rngs(0), **kwargs))
  assert hasattr(model, "decoder") == (config.get("model_name") in ("captioner", "siglip2"))
