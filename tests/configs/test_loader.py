"""The one config loader: one override syntax and one typing for curation, pretraining and eval configs."""

from __future__ import annotations

import math

import ml_collections
import pytest

from webpairs import cli
from webpairs.configs import evals, loader
from webpairs.configs.curation import load_curation_config
from webpairs.commands import eval as eval_command

# (field in a curation config, in a pretraining config, in an eval config) of one type each.
FIELDS = {
    int: ("filters.min_side", "total_steps", "synthetic_geo.seeds"),
    float: ("filters.min_score_percentile", "optax.lr", None),
    bool: ("dedup.near", "input.lower", None),
    str: ("filters.score_column", "input.shards", "synthetic_zeroshot.dataset"),
    list: (None, None, "synthetic_geo.shots"),
    tuple: ("filters.langs", None, None),
}


def _set(kind: int, key: str, text: str):
  """The value `key=text` gives in a curation (0), pretraining (1) or eval (2) config."""
  if kind == 0:
    config = load_curation_config("raw", [f"{key}={text}"])
  elif kind == 1:
    config = loader.load_config(loader.PRETRAIN, "siglip:tiny", [f"{key}={text}"])
  else:
    name, leaf = key.split(".")
    return evals.override(evals.resolve(["synthetic"]), [f"{key}={text}"])[name][leaf]
  node = config
  for part in key.split("."):
    node = node[part]
  return node


@pytest.mark.parametrize("kind_of_field, text, expected", [
    (int, "12", 12), (int, "1e3", 1000), (int, "-3", -3),
    (float, "0.25", 0.25), (float, "3", 3.0), (float, "1e-2", 0.01), (float, "inf", math.inf),
    (bool, "true", True), (bool, "False", False), (bool, "yes", True), (bool, "0", False),
    (str, "1", "1"), (str, "a b", "a b"), (str, "[1]", "[1]"),
    (list, "[5, 10]", [5, 10]), (list, "(1,)", [1]),
    (tuple, "en,de", ("en", "de")), (tuple, "('en', 'de')", ("en", "de")), (tuple, "[]", ()),
])
def test_same_override_text_gives_the_same_typed_value_in_every_kind_of_config(kind_of_field, text, expected):
  seen = [(kind, _set(kind, key, text)) for kind, key in enumerate(FIELDS[kind_of_field]) if key]
  assert seen
  for kind, value in seen:
    assert value == expected and type(value) is type(expected), (kind, value)


@pytest.mark.parametrize("kind_of_field, text", [
    (int, "abc"), (int, "2.5"), (float, "lots"), (bool, "maybe"), (list, "5"), (tuple, "3"),
])
def test_a_value_the_field_cannot_take_is_a_type_error_in_every_kind(kind_of_field, text):
  for kind, key in enumerate(FIELDS[kind_of_field]):
    if key:
      with pytest.raises(loader.OverrideTypeError, match=repr(text)):
        _set(kind, key, text)


@pytest.mark.parametrize("kind, key, named, close", [
    (0, "filters.min_sid", "filters.min_sid", "min_side"),
    (0, "filtrs.min_side", "filtrs", "filters"),
    (1, "optax.lrr", "optax.lrr", "lr"),
    (1, "total_step", "total_step", "total_steps"),
    (2, "synthetic_zeroshot.max_exampls", "synthetic_zeroshot.max_exampls", "max_examples"),
    (2, "synthetic_zeroshto.seed", "synthetic_zeroshto", "synthetic_zeroshot"),
])
def test_an_unknown_key_is_named_with_its_close_matches(kind, key, named, close):
  with pytest.raises(loader.UnknownKeyError) as info:
    _set(kind, key, "1")
  assert f"unknown config key {named!r}; did you mean {close}" in str(info.value)
  assert isinstance(info.value, KeyError)  # what callers of the curation loader caught before


def test_typed_placeholders_and_none_fields():
  config = loader.load_config(loader.PRETRAIN, "siglip:tiny", ["model.out_dim=1e2", "optax.mu_dtype=bfloat16"])
  assert config.model.out_dim == 100 and config.optax.mu_dtype == "bfloat16"  # FieldReference(None, int / str)
  c = ml_collections.ConfigDict({"free": None, "sub": {"a": 1}})
  loader.apply_overrides(c, ["free=[1, 2]", "sub={'a': 2}"])
  assert c.free == [1, 2] and c.sub.a == 2
  with pytest.raises(loader.OverrideTypeError, match="mapping"):
    loader.apply_overrides(c, ["sub=3"])
  with pytest.raises(loader.ConfigError, match="not KEY=VALUE"):
    loader.apply_overrides(c, ["free"])


def test_eval_overrides_leave_unset_keys_unset_and_need_a_name():
  configs = evals.resolve(["synthetic"])
  out = evals.override(configs, ["synthetic_zeroshot.max_examples=20"])
  assert out["synthetic_zeroshot"] == {**configs["synthetic_zeroshot"], "max_examples": 20}
  assert out["synthetic_geo"] == configs["synthetic_geo"] and "max_examples" not in configs["synthetic_zeroshot"]
  with pytest.raises(loader.ConfigError, match="NAME.KEY=VALUE"):
    evals.override(configs, ["max_examples=20"])


def test_split_overrides_takes_both_spellings():
  rest, overrides = loader.split_overrides(["--config", "siglip:tiny", "--config.a.b=1", "--workdir", "w",
                                            "--config.c", "x y", "--runner=X"])
  assert rest == ["--config", "siglip:tiny", "--workdir", "w", "--runner=X"]
  assert overrides == ["a.b=1", "c=x y"]
  with pytest.raises(loader.ConfigError, match="needs a value"):
    loader.split_overrides(["--config.a.b"])


def test_parse_arg_casts_to_the_defaults_types():
  arg = loader.parse_arg("variant=L/14,res=336,batch=1e4,tiny,lr=0.5", variant="B/16", res=224, batch=8,
                         tiny=False, lr=1.0)
  assert (arg.variant, arg.res, arg.batch, arg.tiny, arg.lr) == ("L/14", 336, 10_000, True, 0.5)
  with pytest.raises(loader.UnknownKeyError, match="unknown config argument 'colour'; did you mean color"):
    loader.parse_arg("colour=red", variant="B/16", color="blue")


def test_every_command_takes_both_spellings_and_exits_2_on_an_unknown_key(tmp_path, monkeypatch, capsys):
  # pretrain: --print-config shows the overridden config without starting JAX.
  assert cli.main(["pretrain", "--config", "siglip:tiny", "--workdir", str(tmp_path), "--print-config",
                   "--config.optax.lr", "0.5", "--config.total_steps=7"]) == 0
  printed = capsys.readouterr().out
  assert "lr: 0.5" in printed and "total_steps: 7" in printed
  assert cli.main(["pretrain", "--config", "siglip:tiny", "--workdir", str(tmp_path), "--print-config",
                   "--config.optax.lrr=0.5"]) == 2
  assert "'optax.lrr'; did you mean lr?" in capsys.readouterr().err
  # eval: the override reaches the evaluated configs, typed.
  seen = {}

  def fake_evaluate(workdir, configs, data_root, *, step=None, tokenizer=None):
    seen.update(configs)
    return 1, {}, {"json": "j", "markdown": "m", "html": "h"}

  monkeypatch.setattr(eval_command, "evaluate", fake_evaluate)
  assert cli.main(["eval", "--workdir", str(tmp_path), "--evals", "synthetic",
                   "--config.synthetic_zeroshot.max_examples", "20", "--config.synthetic_geo.seeds=2"]) == 0
  assert seen["synthetic_zeroshot"]["max_examples"] == 20 and seen["synthetic_geo"]["seeds"] == 2
  capsys.readouterr()
  with pytest.raises(SystemExit) as info:
    cli.main(["eval", "--workdir", str(tmp_path), "--evals", "synthetic", "--config.synthetic_geo.seed=x"])
  assert info.value.code == 2
  assert "webpairs eval: error: config key 'synthetic_geo.seed' holds an int" in capsys.readouterr().err
  # A job without a config refuses overrides instead of passing them on to Beam.
  with pytest.raises(SystemExit) as info:
    cli.main(["curate", "annotate", "--input", str(tmp_path / "x.tar"), "--output", str(tmp_path / "a"),
              "--config.filters.min_side=3"])
  assert info.value.code == 2
  assert "`webpairs curate` takes no config overrides: --config.filters.min_side=3" in capsys.readouterr().err
