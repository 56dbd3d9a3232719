"""The model folder contract as `cfipt predict` reads it: load_model and its refusals, every key of
model.json checked at open (folders made by a tiny training run)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))  # the training tests' scene builder

from train_helpers import tiny_config, write_scene

from cfipt_cli.contracts.model import build_network, load_model, read_model_info
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CheckpointError, InputNotFoundError, WeightsUnavailableError
from cfipt_cli.testing.model_folder import write_untrained_model
from cfipt_cli.train.loop import train_model
from models import CFIPTConfig

pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory) -> Path:
    """A 32 x 32 scene, 4 separable classes, 8 training pixels each (read only)."""
    return write_scene(tmp_path_factory.mktemp("small") / "scene", size=32, n_classes=4, n_train=8)


@pytest.fixture(scope="module")
def model_dir(small_scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("modelio") / "model"
    train_model(small_scene, out, tiny_config(epochs=1))
    return out


@pytest.fixture
def copy(model_dir, tmp_path):
    """A private copy of the model folder that a test may damage."""
    return shutil.copytree(model_dir, tmp_path / "model")


def test_load_model_restores_the_trained_weights(model_dir, small_scene):
    from safetensors.torch import load_file

    model, info = load_model(model_dir, "cpu")
    assert not model.training
    saved = load_file(str(model_dir / "model.safetensors"))
    state = model.trainable_state_dict()
    assert saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in saved)
    assert (info.n_hsi, info.n_aux, info.patch_size, info.class_ids) == (8, 1, 5, [1, 2, 3, 4])
    info.check_scene(Scene.open(small_scene))  # same layout: no error


def test_other_band_layout_is_refused(model_dir, tmp_path):
    _, info = load_model(model_dir)
    other = Scene.open(write_scene(tmp_path / "six", n_hsi=6))
    with pytest.raises(CheckpointError, match=r"trained on 8 hsi \+ 1 lidar bands but scene .* has 6 hsi"):
        info.check_scene(other)


def test_backbone_fingerprint_mismatch(copy):
    meta = json.loads((copy / "model.json").read_text())
    meta["backbone"]["fingerprint"] = "0" * 64
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"another backbone.*restore the original ones"):
        load_model(copy)  # predict has no --pretrained: the message does not name it
    with pytest.raises(CheckpointError, match=r"another backbone.*--pretrained"):
        load_model(copy, pretrained="none")


def test_corrupt_weights(copy):
    (copy / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt"):
        load_model(copy)


def test_foreign_weights(copy, tmp_path):
    from safetensors.torch import save_file

    save_file({"something.else": torch.zeros(3)}, str(copy / "model.safetensors"))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_model(copy)


def test_corrupt_or_missing_description(copy, tmp_path):
    (copy / "model.json").write_text("{", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"model\.json is corrupt"):
        read_model_info(copy)
    (copy / "model.json").unlink()
    with pytest.raises(CheckpointError, match="not a cfipt model folder"):
        load_model(copy)
    with pytest.raises(InputNotFoundError):
        load_model(tmp_path / "nowhere")


def test_unobtainable_weights_override(model_dir):
    with pytest.raises(WeightsUnavailableError, match="--pretrained"):
        load_model(model_dir, pretrained="no-such-tag")


def test_an_untrained_model_folder_loads_like_a_trained_one(small_scene, tmp_path):
    """`write_untrained_model` (the model folders of tests and benchmarks) writes what load_model reads."""
    scene = Scene.open(small_scene)
    settings = CFIPTConfig(hsi_bands=8, aux_bands=1, class_names=scene.classes.names, patch_size=5)
    tiny = settings.replace(clip_model="cfipt-tiny", pretrained=None, n_prompt=2, depth=2).to_dict()
    root = write_untrained_model(tmp_path / "untrained", scene, tiny, seed=3)
    model, info = load_model(root, "cpu")
    assert (info.n_hsi, info.n_aux, info.patch_size, info.class_ids) == (8, 1, 5, [1, 2, 3, 4])
    assert info.meta["train_config"]["seed"] == 3 and info.meta["epochs_done"] == 0
    fresh = build_network(tiny, 3)  # the same seed gives the same weights
    state, expected = model.trainable_state_dict(), fresh.trainable_state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)
    info.check_scene(scene)


# ------------------------------------------------------------------- model.json checked at open
def _edit(copy, change):
    meta = json.loads((copy / "model.json").read_text())
    change(meta)
    (copy / "model.json").write_text(json.dumps(meta))
    return copy


def test_a_model_folder_of_an_older_format_must_be_retrained(copy):
    _edit(copy, lambda m: m.update(format_version=1))
    with pytest.raises(CheckpointError) as info:
        read_model_info(copy)
    message = str(info.value)
    assert "made by an older cfipt" in message and "network differs" in message and "cfipt train" in message


def _swap_names(classes):
    classes[0]["name"], classes[1]["name"] = classes[1]["name"], classes[0]["name"]


MODEL_EDITS = {
    "no format_version": (lambda m: m.pop("format_version"), "older cfipt"),
    "no normalisation.std": (lambda m: m["normalisation"].pop("std"), "'normalisation.std' is missing"),
    "a short mean": (lambda m: m["normalisation"]["mean"].pop(), "'normalisation.mean' is wrong"),
    "roles that disagree": (lambda m: m["band_roles"].update(hsi=3), "'band_roles' is wrong"),
    "an even patch": (lambda m: m.update(patch_size=4), "'patch_size' is wrong"),
    "a config of other bands": (lambda m: m["model_config"].update(hsi_bands=2), "'model_config.hsi_bands'"),
    "one class name less": (lambda m: m["model_config"]["class_names"].pop(), "'model_config.class_names'"),
    "no fingerprint": (lambda m: m["backbone"].pop("fingerprint"), "'backbone.fingerprint' is missing"),
    # the logits follow model_config.class_names: a class table that names or orders them otherwise
    # would give each id another class's pixels (a silent wrong map)
    "two class names swapped": (lambda m: _swap_names(m["classes"]), "'model_config.class_names'"),
    "a number as a class name": (lambda m: m["classes"][0].update(name=5), "'classes[0].name' is wrong"),
    "an id that reorders the table": (lambda m: m["classes"][0].update(id=300), "'model_config.class_names'"),
    "no classes": (lambda m: m.update(classes=[]), "'classes' is wrong"),
    "a text layout": (lambda m: m.update(band_layout="hsi"), "'band_layout' is wrong"),
}


@pytest.mark.parametrize("case", sorted(MODEL_EDITS))
def test_every_key_of_model_json_is_checked_at_open(copy, case):
    change, phrase = MODEL_EDITS[case]
    _edit(copy, change)
    with pytest.raises(CheckpointError) as info:
        read_model_info(copy)
    assert phrase in str(info.value) and "\n" not in str(info.value)
