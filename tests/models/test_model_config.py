"""CFIPTConfig: defaults of the spec, validation with clear errors, JSON round trip, dataset presets."""

from __future__ import annotations

import json

import pytest

from models import VARIANTS, CFIPTConfig, list_presets, load_preset
from models.errors import ModelSettingError


def minimal(**overrides: object) -> CFIPTConfig:
    settings: dict[str, object] = {"hsi_bands": 4, "aux_bands": 1, "class_names": ["a", "b"]}
    settings.update(overrides)
    return CFIPTConfig(**settings)  # type: ignore[arg-type]


def test_defaults_follow_the_spec():
    cfg = minimal()
    assert (cfg.patch_size, cfg.n_prompt, cfg.depth, cfg.variant) == (11, 6, 9, "full")
    assert (cfg.clip_model, cfg.pretrained) == ("ViT-B-16-quickgelu", "openai")
    assert cfg.template == "a multisource fusion patch of"
    assert cfg.class_names == ("a", "b") and cfg.n_classes == 2


def test_round_trip_through_json():
    cfg = minimal(variant="4d", iae_channels=[9, 8, 7], pretrained="none")
    assert cfg.pretrained is None  # "none" means random weights
    again = CFIPTConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.iae_channels == (9, 8, 7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_prompt": 5}, "n_prompt must be even"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"hsi_bands": True}, "hsi_bands must be a positive integer"),
        ({"variant": "4e"}, "did you mean"),
        ({"class_names": ["a", "a"]}, "distinct"),
        ({"class_names": []}, "non-empty"),
        ({"iae_channels": (4, 4)}, "3 positive widths"),
        ({"transformer_heads": 5}, "must divide"),
    ],
)
def test_invalid_settings_are_usage_errors(change, message):
    with pytest.raises(ModelSettingError, match=message):
        minimal(**change)


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(ModelSettingError) as err:
        minimal(variant="five")
    assert all(name in str(err.value) for name in VARIANTS)


def test_unknown_keys_are_rejected():
    with pytest.raises(ModelSettingError, match="unknown model setting"):
        CFIPTConfig.from_dict({**minimal().to_dict(), "lr": 1e-3})


@pytest.mark.parametrize(
    ("name", "c", "d", "p", "k"),
    [("houston", 144, 1, 11, 15), ("muufl", 64, 2, 11, 11), ("augsburg", 180, 4, 9, 7)],
)
def test_dataset_presets(name, c, d, p, k):
    cfg = CFIPTConfig.from_preset(name, pretrained=None)
    assert (cfg.hsi_bands, cfg.aux_bands, cfg.patch_size, cfg.n_classes) == (c, d, p, k)
    assert cfg.pretrained is None and load_preset(name)["paper"]["trainable_params"] > 0


def test_unknown_preset_lists_the_shipped_ones():
    assert list_presets() == ["augsburg", "houston", "muufl"]
    with pytest.raises(ModelSettingError, match="houston"):
        load_preset("houstn")
