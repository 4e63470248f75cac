"""Config: YAML + dotted overrides, typed, unknown keys rejected with close matches."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from attnvision.engine.config import Config, load_config, save_config


def test_defaults_and_overrides_are_typed():
    cfg = load_config(
        None,
        [
            "optim.lr=0.1",
            "train.epochs=3",
            "data.name=mnist",
            "optim.nesterov=true",
            "data.distortion=null",
            "model.attention_options.rd_ratio=0.25",
            "optim.betas=[0.8, 0.9]",
        ],
    )
    assert cfg.optim.lr == 0.1 and isinstance(cfg.optim.lr, float)
    assert cfg.train.epochs == 3 and cfg.data.name == "mnist"
    assert cfg.optim.nesterov is True
    assert cfg.data.distortion is None
    assert cfg.model.attention_options == {"rd_ratio": 0.25}
    assert cfg.optim.betas == [0.8, 0.9]
    # an int is accepted where a float is expected, and converted
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  name: sgd\n  lr: 0.2\ntrain:\n  epochs: 7\n")
    cfg = load_config(path, ["optim.lr=0.05"])
    assert (cfg.optim.name, cfg.optim.lr, cfg.train.epochs) == ("sgd", 0.05, 7)
    assert cfg.optim.momentum == 0.9  # untouched defaults stay


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=0.1", r"unknown config key 'optim.lrr' \(did you mean lr\?\)"),
        ("trian.epochs=1", r"unknown config key 'trian' \(did you mean train\?\)"),
        ("train.epochs=2.5", r"config key 'train.epochs' expected int, got float 2.5"),
        ("train.epochs=true", r"config key 'train.epochs' expected int, got bool"),
        ("optim.lr=fast", r"config key 'optim.lr' expected float, got str 'fast'"),
        ("train.deterministic=3", r"config key 'train.deterministic' expected bool"),
        ("data.distortion=3", r"config key 'data.distortion' expected str \| None"),
        ("optim.name=adam", r"expected one of sgd, adamw, got 'adam' \(did you mean adamw"),
        ("optim=3", r"section 'optim' expected a mapping, got int"),
        ("optim.betas=0.9", r"config key 'optim.betas' expected a list"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises((ValueError, TypeError), match=message):
        load_config(None, [override])


def test_override_without_equals_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="key=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(TypeError, match="expected a mapping, got list"):
        load_config(listy)


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(None, ["optim.lr=0.3", "model.name=resnet20", "model.attention=se"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["optim"]["lr"] == 0.3
    assert isinstance(again, Config)


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.yaml")))
def test_example_configs_are_valid(path):
    from attnvision.models import list_models

    cfg = load_config(path)
    assert cfg.model.name in list_models()


def test_compare_digits_config_is_the_demo():
    from attnvision.engine.compare import compare_config

    path = Path(__file__).parents[2] / "configs" / "compare_digits.yaml"
    assert compare_config(path).to_dict() == compare_config().to_dict()
