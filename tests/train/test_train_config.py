"""TrainConfig: defaults, TOML files, precedence of flags, unknown keys, --resume option checks."""

from __future__ import annotations

import pytest

from cfipt_cli.errors import CfiptUsageError, InputNotFoundError
from cfipt_cli.train.config import TrainConfig, differing_fields, flag_of, read_toml, resolve_config


def test_defaults_follow_the_method():
    config = TrainConfig()
    assert (config.clip_model, config.pretrained) == ("ViT-B-16-quickgelu", "openai")
    assert (config.lr, config.patch_size, config.prompt_length, config.prompt_depth) == (5e-4, 11, 6, 9)
    assert config.variant == "full" and config.pretrained_arg == "openai"
    assert TrainConfig(pretrained="None").pretrained_arg is None


def test_file_then_flags(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text('epochs = 7\nlr = 1\nclip_model = "cfipt-tiny"\nvariant = "4a"\n', encoding="utf-8")
    config = resolve_config(toml, {"epochs": 3})
    assert config.epochs == 3  # the flag wins
    assert config.lr == 1.0 and isinstance(config.lr, float)  # TOML int accepted for a float
    assert (config.clip_model, config.variant) == ("cfipt-tiny", "4a")
    assert config.batch_size == TrainConfig().batch_size  # untouched default


def test_train_table_is_read(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text("[train]\nbatch_size = 8\naugment = false\n", encoding="utf-8")
    assert read_toml(toml) == {"batch_size": 8, "augment": False}


def test_unknown_key_lists_valid_keys(tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text("epoch = 3\n", encoding="utf-8")
    with pytest.raises(
        CfiptUsageError,
        match=r"unknown training option.*epoch; valid: clip_model, pretrained, weights_licence, epochs",
    ):
        resolve_config(toml, {})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epochs = 'ten'\n", "epochs must be int"),
        ("augment = 1\n", "augment must be bool"),
        ("x = [\n", "not valid TOML"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path, text, match):
    toml = tmp_path / "train.toml"
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(CfiptUsageError, match=match):
        resolve_config(toml, {})


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError):
        resolve_config(tmp_path / "nope.toml", {})


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"prompt_length": 3}, "--prompt-length"),
        ({"patch_size": 4}, "--patch-size"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"variant": "5"}, "--variant"),
        ({"clip_model": ""}, "--clip"),
    ],
)
def test_out_of_range_names_the_flag(changes, flag):
    with pytest.raises(CfiptUsageError, match=f"^{flag} "):
        TrainConfig(**changes)


def test_differing_fields_ignore_runtime_options():
    saved = TrainConfig(epochs=4)
    asked = {"epochs": 4, "device": "cpu", "num_workers": 2, "amp": True, "lr": 1e-3}
    assert differing_fields(saved, asked) == ["lr"]
    assert flag_of("clip_model") == "--clip" and flag_of("batch_size") == "--batch-size"


def test_every_option_has_a_flag_with_the_same_default():
    import inspect

    import typer

    from cfipt_cli.cli.app import app
    from cfipt_cli.cli.commands.train import command

    signature = inspect.signature(command).parameters
    defaults = TrainConfig().to_dict()
    assert {field: signature[field].default for field in TrainConfig.field_names()} == defaults
    options = {p.name: p.opts for p in typer.main.get_command(app).commands["train"].params}
    assert all(flag_of(field) in options[field] for field in TrainConfig.field_names())
