"""Backbone loading: names, weights (tag, file, none), clear errors offline, freezing, fingerprints."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import open_clip
import pytest
import torch
from cfipt_model_helpers import MICRO_NAME

from models import RandomBackboneWarning, backbone, list_clip_models, load_backbone
from models.backbone import state_fingerprint
from models.errors import ModelSettingError, WeightsUnavailableError


def random_micro() -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        return load_backbone(MICRO_NAME, None)


def test_tiny_config_is_registered_at_import():
    assert "cfipt-tiny" in open_clip.list_models()
    assert "cfipt-tiny" in list_clip_models() and "ViT-B-16-quickgelu" in list_clip_models()
    assert "RN50" not in list_clip_models()  # ResNet towers cannot take deep prompts


def test_random_weights_warn_and_everything_is_frozen():
    with pytest.warns(RandomBackboneWarning, match="random weights"):
        model = load_backbone(MICRO_NAME, "none")
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(ModelSettingError, match="ViT-B-16") as err:
        load_backbone("ViT-B-61", None)
    assert "unknown" in str(err.value)


def test_unsupported_tower_is_refused():
    with pytest.raises(ModelSettingError, match="not a ViT CLIP"):
        load_backbone("coca_ViT-B-32", None)


def test_unknown_tag_names_the_option_and_the_offline_way():
    with pytest.raises(WeightsUnavailableError, match="pretrained=") as err:
        load_backbone(MICRO_NAME, "laion9000")
    assert "local checkpoint file" in str(err.value)


def uncached_hub_weights(monkeypatch, download: Callable[..., Any], reachable: Callable[..., bool]) -> None:
    """A tag whose weights are on the Hugging Face hub and not cached; `download` and `reachable` are the network."""
    monkeypatch.setattr(
        open_clip, "get_pretrained_cfg", lambda name, tag: {"hf_hub": "org/repo/", "quick_gelu": True}
    )
    monkeypatch.setattr(open_clip, "download_pretrained", download)
    monkeypatch.setattr(backbone, "_cached_hf_file", lambda hf_hub: None)
    monkeypatch.setattr(backbone, "_reachable", reachable)


def test_failed_download_is_a_weights_error(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    uncached_hub_weights(monkeypatch, download=offline, reachable=lambda host, timeout=5.0: True)
    with pytest.raises(WeightsUnavailableError, match="cannot download") as err:
        load_backbone(MICRO_NAME, "openai")
    assert "pretrained=/path/to/" in str(err.value)


def test_unreachable_hub_fails_at_once_without_download(monkeypatch):
    def must_not_download(*args, **kwargs):
        raise AssertionError("no download may start when the host is unreachable")

    hosts: list[str] = []
    uncached_hub_weights(
        monkeypatch,
        download=must_not_download,
        reachable=lambda host, timeout=5.0: hosts.append(host) or False,
    )
    with pytest.raises(WeightsUnavailableError, match="cannot be reached") as err:
        load_backbone(MICRO_NAME, "openai")
    assert hosts == ["huggingface.co"] and "pretrained=" in str(err.value)


def test_cached_weights_are_used_without_network(monkeypatch):
    def must_not_download(*args, **kwargs):
        raise AssertionError("cached weights need no download")

    monkeypatch.setattr(open_clip, "get_pretrained_cfg", lambda name, tag: {"hf_hub": "org/repo/"})
    monkeypatch.setattr(open_clip, "download_pretrained", must_not_download)
    monkeypatch.setattr(backbone, "_reachable", must_not_download)
    monkeypatch.setattr(backbone, "_cached_hf_file", lambda hf_hub: f"/cache/{hf_hub}model.bin")
    assert backbone._download_tag(MICRO_NAME, "openai") == "/cache/org/repo/model.bin"


def test_unreadable_file_is_a_weights_error(tmp_path):
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="not a readable"):
        load_backbone(MICRO_NAME, str(bad))


def test_local_checkpoint_file_is_loaded(tmp_path):
    torch.manual_seed(3)
    source = random_micro()
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(source.state_dict(), path)
    torch.manual_seed(4)  # a different random init, overwritten by the file
    loaded = load_backbone(MICRO_NAME, str(path))
    assert state_fingerprint(loaded) == state_fingerprint(source)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_fingerprint_is_deterministic_and_sensitive():
    torch.manual_seed(0)
    model: Any = random_micro()
    first = state_fingerprint(model)
    assert first == state_fingerprint(model) and len(first) == 64
    with torch.no_grad():
        model.logit_scale.add_(1e-6)
    assert state_fingerprint(model) != first
