"""Config files: big_vision-style arguments, the tiny preset, command-line overrides."""

from __future__ import annotations

import pytest
from flax import nnx

from webpairs.pretrain import config_lib, models, objectives, trainer
from webpairs.pretrain.command import split_overrides


def test_parse_arg_casts_to_the_defaults_types():
  arg = config_lib.parse_arg("variant=L/14,res=336,batch=1e4,tiny,lr=0.5", variant="B/16", res=224, batch=8,
                             tiny=False, lr=1.0)
  assert (arg.variant, arg.res, arg.batch, arg.tiny, arg.lr) == ("L/14", 336, 10_000, True, 0.5)
  with pytest.raises(ValueError, match="unknown config argument 'colour'"):
    config_lib.parse_arg("colour=red", variant="B/16")


def test_siglip_config_by_arguments_and_tiny_preset():
  big = config_lib.load("webpairs/pretrain/configs/siglip.py:variant=So400m/14,res=384,batch=1024")
  assert big.model.image["variant"] == "So400m/14" and big.model.text["variant"] == "So400m"
  assert (big.input.res, big.input.batch_size, big.loss["name"], big.model.dtype) == (384, 1024, "ring", "bfloat16")
  tiny = config_lib.load("siglip:tiny")
  assert tiny.model.image["variant"] == "mu/8" and tiny.input.res == 32 and tiny.input.batch_size == 64
  assert tiny.model.dtype == "float32"
  assert config_lib.load("siglip:tiny,res=48").input.res == 48  # explicit arguments win over the preset
  with pytest.raises(FileNotFoundError):
    config_lib.load("no_such_config:tiny")


def test_overrides_keep_field_types_and_reject_unknown_fields():
  config = config_lib.load("siglip:tiny")
  config_lib.override(config, ["optax.lr=1e-2", "input.shards=/data/curated", "total_steps=50",
                               "model.out_dim=48", "input.lower=true", "loss.name=chunked"])
  assert config.optax.lr == 0.01 and config.total_steps == 50 and config.model.out_dim == 48
  assert config.input.shards == "/data/curated" and config.input.lower is True and config.loss["name"] == "chunked"
  with pytest.raises(KeyError, match="no field 'optax.momentum'"):
    config_lib.override(config, ["optax.momentum=0.9"])
  with pytest.raises(ValueError, match="expected a boolean"):
    config_lib.override(config, ["input.lower=maybe"])


def test_split_overrides_takes_both_spellings():
  rest, overrides = split_overrides(["--config", "siglip:tiny", "--config.a.b=1", "--workdir", "w",
                                     "--config.c", "x y"])
  assert rest == ["--config", "siglip:tiny", "--workdir", "w"]
  assert overrides == ["a.b=1", "c=x y"]


@pytest.mark.parametrize("name", sorted(p.stem for p in config_lib.CONFIG_DIR.glob("*.py") if p.stem != "__init__"))
def test_every_config_file_has_a_tiny_preset_whose_model_builds(name):
  config = config_lib.load(f"{name}:tiny")
  assert config.model.dtype == "float32" and config.input.res == 32 and config.input.batch_size == 64
  # An objective reading region rows (LocCa, SigLIP 2) gets them from the input.
  assert config.input.get("regions", False) == (config.loss["name"] in ("locca", objectives.SIGLIP_LOCCA))
  kwargs = trainer.model_kwargs(config, vocab_size=100)
  model = nnx.eval_shape(lambda: models.build(config.get("model_name", "two_towers"), rngs=nnx.Rngs(0), **kwargs))
  assert hasattr(model, "decoder") == (config.get("model_name") in ("captioner", "siglip2"))
