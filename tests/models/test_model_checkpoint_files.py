"""Backbone checkpoint files in the layouts RemoteCLIP, GeoRSCLIP and SkyCLIP publish, and their mismatches."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from cfipt_model_helpers import MICRO_NAME

from models import RandomBackboneWarning, backbone, load_backbone
from models.checkpoint_files import HARMLESS_EXTRA
from models.errors import ModelSettingError, WeightsUnavailableError


def random_micro(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        return load_backbone(MICRO_NAME, None)


def _raw(sd: dict[str, torch.Tensor], path: Path) -> None:  # RemoteCLIP, GeoRSCLIP: model.state_dict()
    torch.save(sd, path)


def _training_checkpoint(sd: dict[str, torch.Tensor], path: Path) -> None:  # open_clip's epoch_N.pt
    torch.save({"epoch": 20, "name": "run", "state_dict": sd}, path)


def _ddp_training_checkpoint(sd: dict[str, torch.Tensor], path: Path) -> None:  # SkyCLIP: DDP, with optimizer
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-9, weight_decay=1.0)
    wrapped = {f"module.{key}": value for key, value in sd.items()}
    torch.save({"epoch": 20, "name": "run", "state_dict": wrapped, "optimizer": optimizer.state_dict()}, path)


def _model_key(sd: dict[str, torch.Tensor], path: Path) -> None:
    torch.save({"model": sd}, path)


def _safetensors(sd: dict[str, torch.Tensor], path: Path) -> None:
    safetensors.torch.save_file({key: value.contiguous() for key, value in sd.items()}, str(path))


def _harmless_extras(sd: dict[str, torch.Tensor], path: Path) -> None:
    """The differences allowed: saved buffers, a SigLIP bias, a 1-element logit scale, custom-text names."""
    extra = {
        f"text.{k}" if k.startswith(("transformer.", "token_embedding.", "ln_final.")) else k: v
        for k, v in sd.items()
    }
    extra["text.text_projection"] = extra.pop("text_projection")
    extra["attn_mask"] = torch.full((77, 77), float("-inf")).triu(1)
    extra["text.transformer.embeddings.position_ids"] = torch.arange(77)[None]
    extra["logit_bias"] = torch.tensor(-10.0)
    extra["logit_scale"] = sd["logit_scale"].reshape(1)
    torch.save(extra, path)


class _Holder(torch.nn.Module):
    """A module that only holds tensors: the shape of a state dict in a TorchScript archive."""


def _holding(sd: dict[str, torch.Tensor]) -> torch.nn.Module:
    root = _Holder()
    for key, value in sd.items():
        *parents, leaf = key.split(".")
        module = root
        for name in parents:
            if not hasattr(module, name):
                module.add_module(name, _Holder())
            module = getattr(module, name)
        module.register_buffer(leaf, value)
    return root


def _torchscript(sd: dict[str, torch.Tensor], path: Path) -> None:
    """OpenAI's ~/.cache/clip/*.pt: a TorchScript archive with its three metadata integers."""
    extra = {**sd, "input_resolution": torch.tensor(16), "context_length": torch.tensor(77)}
    extra["vocab_size"] = torch.tensor(49408)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_holding(extra)), str(path))


LAYOUTS: dict[str, tuple[str, Callable[[dict[str, torch.Tensor], Path], None]]] = {
    "raw": ("RemoteCLIP-micro.pt", _raw),
    "state_dict": ("epoch_20.pt", _training_checkpoint),
    "module_prefixed": ("epoch_20_ddp.pt", _ddp_training_checkpoint),
    "model_key": ("weights.bin", _model_key),
    "safetensors": ("open_clip_model.safetensors", _safetensors),
    "harmless_extras": ("RS5M_micro.pt", _harmless_extras),
    "torchscript": ("ViT-micro.pt", _torchscript),
    "upper_case_suffix": ("open_clip_model.SAFETENSORS", _safetensors),
}


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    """The micro backbone with seed-7 random weights: the weights every file holds."""
    return random_micro(7)


@pytest.fixture(scope="module")
def checkpoint_files(reference: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The reference's weights written in every layout."""
    folder = tmp_path_factory.mktemp("checkpoints")
    files = {}
    for layout, (name, write) in LAYOUTS.items():
        write({k: v.clone() for k, v in reference.state_dict().items()}, folder / name)
        files[layout] = folder / name
    return files


def outputs(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    images = torch.randn(2, 3, 16, 16)
    text = torch.randint(1, 400, (2, 77))
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(text)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_loads_the_same_weights_bit_for_bit(layout, checkpoint_files, reference):
    direct = random_micro(99)
    direct.load_state_dict(reference.state_dict())  # the same weights, loaded directly
    torch.manual_seed(123)  # another random init, overwritten by the file
    loaded = load_backbone(MICRO_NAME, str(checkpoint_files[layout]))
    for ours, theirs in zip(outputs(loaded), outputs(direct), strict=True):
        assert torch.equal(ours, theirs)
    assert not torch.equal(
        outputs(random_micro(99))[0], outputs(direct)[0]
    )  # the file did change the weights


class _RunsCodeOnLoad(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return self.scale, self.training

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        self.scale = state[0]
        self.training = state[1]


def test_a_torchscript_archive_that_runs_code_on_load_is_refused(tmp_path):
    path = tmp_path / "setstate.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_RunsCodeOnLoad()), str(path))
    with pytest.raises(
        WeightsUnavailableError, match="TorchScript archive whose classes define __setstate__"
    ):
        load_backbone(MICRO_NAME, str(path))


def test_the_harmless_differences_are_listed_with_a_reason():
    assert all(len(why) > 30 for _matches, why in HARMLESS_EXTRA)
    for key in ("attn_mask", "context_length", "text.transformer.embeddings.position_ids", "logit_bias"):
        assert any(matches(key) for matches, _why in HARMLESS_EXTRA)
    assert not any(matches("visual.proj") for matches, _why in HARMLESS_EXTRA)


def _refusal(sd: dict[str, torch.Tensor], tmp_path: Path) -> str:
    path = tmp_path / "edited.pt"
    torch.save(sd, path)
    with pytest.raises(WeightsUnavailableError) as err:
        load_backbone(MICRO_NAME, str(path))
    message = str(err.value)
    assert "\n" not in message and f"does not fit clip_model='{MICRO_NAME}'" in message
    return message


def test_a_file_of_another_architecture_is_refused_in_one_line(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        tiny = load_backbone("cfipt-tiny", None)  # 4 layers, widths 64/48, patch 8 on 32 x 32 images
    message = _refusal(dict(tiny.state_dict()), tmp_path)
    assert "unexpected keys (visual.transformer.resblocks.3." in message  # the 4th layer micro lacks
    assert "shape mismatches (" in message and "visual.class_embedding: file (64,), model (32,)" in message


def test_missing_unexpected_and_misshapen_keys_are_each_named(reference, tmp_path):
    sd = dict(reference.state_dict())
    del sd["visual.proj"]
    sd["visual.adapter.weight"] = torch.zeros(3)
    sd["visual.positional_embedding"] = torch.zeros(10, 32)  # the model has 2 x 2 patches + the class token
    message = _refusal(sd, tmp_path)
    assert "1 missing keys (visual.proj)" in message
    assert "1 unexpected keys (visual.adapter.weight)" in message
    assert "visual.positional_embedding: file (10, 32), model (5, 32)" in message


def test_a_visual_tower_of_another_patch_size_does_not_load_silently(reference, tmp_path):
    sd = dict(reference.state_dict())
    sd["visual.conv1.weight"] = torch.zeros(32, 3, 4, 4)  # patch 4 instead of 8: no resizing, an error
    assert "visual.conv1.weight: file (32, 3, 4, 4), model (32, 3, 8, 8)" in _refusal(sd, tmp_path)


def test_a_file_without_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(WeightsUnavailableError, match="holds no state dict"):
        load_backbone(MICRO_NAME, str(path))


def test_a_resnet_backbone_is_refused_before_any_weights_load(monkeypatch):
    def no_weights(*_args: Any) -> str:
        raise AssertionError("weights were looked up for a ResNet backbone")

    monkeypatch.setattr(backbone, "_resolve_weights", no_weights)
    for name in ("RN50", "RN101"):
        with pytest.raises(ModelSettingError, match=r"is a ResNet .*deep visual prompts") as err:
            load_backbone(name, "/data/RemoteCLIP-RN50.pt")
        assert "\n" not in str(err.value)
