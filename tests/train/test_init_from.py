"""Fine-tuning from a model (`--init-from`): shared classes keep their logits, new ones their template."""

from __future__ import annotations

import json
import logging
import shutil
import warnings

import numpy as np
import pytest
import rasterio
import torch
from train_helpers import tiny_config, write_scene

from cfipt_cli.contracts.model import build_network, load_model, read_model_info
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptUsageError, CheckpointError
from cfipt_cli.io.files import sha256_file
from cfipt_cli.log import LOGGER_NAME
from cfipt_cli.train.config import TrainConfig
from cfipt_cli.train.data import DEFAULT_CACHE_BYTES
from cfipt_cli.train.init_from import check_init_source
from cfipt_cli.train.loop import train_model
from cfipt_cli.train.trainer import Trainer, model_config_for
from models import RandomBackboneWarning, load_backbone

pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")

# Roads is dropped, Buildings is new, and the ids of the shared classes change (Water: 4 -> 2)
NEW_NAMES = ["Buildings", "Water", "Grass", "Trees"]
TEXT_BUFFERS = ("plain_ids", "prompted_ids", "plain_embeds", "prompted_embeds", "plain_eot", "prompted_eot")


@pytest.fixture(scope="module")
def old_model(scene_dir, tmp_path_factory):
    """A 1-epoch model on the 4-class scene (Grass, Trees, Roads, Water)."""
    out = tmp_path_factory.mktemp("old") / "model"
    train_model(scene_dir, out, tiny_config(epochs=1, batch_size=8))
    return out


@pytest.fixture(scope="module")
def new_scene(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("new") / "scene", size=24, names=NEW_NAMES, n_train=6, seed=3)


def _initialised(scene_dir, old, tmp_path, **changes):
    """The Trainer of a fine-tuning run before its first step."""
    scene, config = Scene.open(scene_dir), tiny_config(epochs=1, batch_size=8, **changes)
    init = check_init_source(old, scene, model_config_for(config, scene, []))
    return Trainer(scene, tmp_path / "m", config, DEFAULT_CACHE_BYTES, init)


def _logits(model, hsi, aux):
    model.eval()
    with torch.no_grad():
        return model(hsi, aux).logits


def test_shared_classes_keep_their_logits_and_new_ones_start_from_the_template(
    old_model, new_scene, tmp_path
):
    trainer = _initialised(new_scene, old_model, tmp_path, seed=0)
    old, info = load_model(old_model)
    assert trainer.model.config.class_names == tuple(NEW_NAMES)  # the scene's classes, in its order
    torch.manual_seed(5)
    hsi, aux = torch.randn(6, 8, 5, 5), torch.randn(6, 1, 5, 5)
    new_logits, old_logits = _logits(trainer.model, hsi, aux), _logits(old, hsi, aux)
    for name in ("Water", "Grass", "Trees"):  # matched by name, not by id
        k_new, k_old = NEW_NAMES.index(name), info.classes.names.index(name)
        torch.testing.assert_close(new_logits[:, k_new], old_logits[:, k_old], rtol=1e-5, atol=1e-5)
    trained = old.trainable_state_dict()
    for key, value in trainer.model.trainable_state_dict().items():  # every trained weight carried over
        torch.testing.assert_close(value, trained[key], rtol=0, atol=0)
    fresh = build_network(trainer.model_config, 0)  # a fresh model of the scene's classes
    for buffer in TEXT_BUFFERS:  # the class texts (template + name) are a fresh model's, row by row
        torch.testing.assert_close(
            getattr(trainer.model.backbone, buffer), getattr(fresh.backbone, buffer), rtol=0, atol=0
        )
    fresh_weights = fresh.trainable_state_dict()  # the trained weights are not a fresh start
    assert any(not torch.equal(fresh_weights[k], trained[k]) for k in trained)
    trainer.close()


def test_names_that_differ_in_case_are_one_class(old_model, tmp_path, caplog, monkeypatch):
    """'water' and 'GRASS' are MODEL's Water and Grass: kept (one class text), neither dropped nor new."""
    names = ["Buildings", "water", "GRASS", "Trees"]
    scene_dir = write_scene(tmp_path / "cased", size=24, names=names, n_train=6, seed=3)
    monkeypatch.setattr(logging.getLogger(LOGGER_NAME), "propagate", True)  # after a CLI test's set-up
    caplog.set_level("INFO", logger=LOGGER_NAME)
    trainer = _initialised(scene_dir, old_model, tmp_path, seed=0)
    messages = [r.getMessage() for r in caplog.records if r.name.endswith("init_from")]
    assert any("['Roads']" in m and "dropped" in m for m in messages)  # Roads only, not Grass or Water
    assert not any("'Grass'" in m or "'Water'" in m for m in messages)
    assert any("3 classes kept, 1 new" in m for m in messages)
    old, info = load_model(old_model)
    torch.manual_seed(5)
    hsi, aux = torch.randn(6, 8, 5, 5), torch.randn(6, 1, 5, 5)
    new_logits, old_logits = _logits(trainer.model, hsi, aux), _logits(old, hsi, aux)
    for name, old_name in (("water", "Water"), ("GRASS", "Grass")):  # the same logit: the same class
        k_new, k_old = names.index(name), info.classes.names.index(old_name)
        torch.testing.assert_close(new_logits[:, k_new], old_logits[:, k_old], rtol=1e-5, atol=1e-5)
    trainer.close()


def test_mismatches_are_refused_in_one_line(old_model, new_scene, tmp_path):
    other_bands = write_scene(tmp_path / "bands", size=16, n_hsi=6, names=NEW_NAMES, n_train=4)
    with pytest.raises(CheckpointError, match="was trained on 8 hsi \\+ 1 lidar bands but scene"):
        _initialised(other_bands, old_model, tmp_path)
    with pytest.raises(CfiptUsageError, match="--prompt-length 4 \\(the model's: 2\\)"):
        _initialised(new_scene, old_model, tmp_path, prompt_length=4)
    with pytest.raises(CfiptUsageError, match="--clip 'ViT-B-16'"):
        _initialised(new_scene, old_model, tmp_path, clip_model="ViT-B-16")
    with pytest.raises(CheckpointError, match="trained on another backbone"):  # seed 1: other random weights
        _initialised(new_scene, old_model, tmp_path, seed=1)
    (tmp_path / "plain").mkdir()
    with pytest.raises(CheckpointError, match="is not a cfipt model folder"):
        _initialised(new_scene, tmp_path / "plain", tmp_path)
    with pytest.raises(CfiptUsageError, match="give one of them"):
        train_model(new_scene, tmp_path / "r", tiny_config(), resume=True, init_from=old_model)
    assert not (tmp_path / "m").exists() and not (tmp_path / "r").exists()


def test_a_short_fine_tune_records_init_from_and_predicts(old_model, new_scene, tmp_path, run_cli, caplog):
    out = tmp_path / "tuned"
    code, _, stderr = run_cli(
        ["train", new_scene, "--out", out, "--init-from", old_model, "--clip", "cfipt-tiny", "--pretrained",
         "none", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--patch-size", "5",
         "--prompt-length", "2", "--prompt-depth", "1", "--seed", "0"]
    )  # fmt: skip
    assert code == 0, stderr
    assert "['Roads']" in stderr and "dropped" in stderr  # the old class missing from the scene
    info = read_model_info(out)
    recorded = info.init_from
    assert recorded is not None and recorded["path"] == str(old_model.resolve())
    assert recorded["sha256"] == sha256_file(old_model / "model.safetensors")
    assert [c["name"] for c in recorded["classes"]] == ["Grass", "Trees", "Roads", "Water"]
    assert info.classes.names == NEW_NAMES and read_model_info(old_model).init_from is None
    assert json.loads((out / "model.json").read_text())["init_from"] == recorded
    code, _, stderr = run_cli(["predict", new_scene, "--model", out, "--out", tmp_path / "map.tif"])
    assert code == 0, stderr
    with rasterio.open(tmp_path / "map.tif") as src:
        classes = set(np.unique(src.read(1)).tolist()) - {0}
    assert classes <= {1, 2, 3, 4} and classes
    code, _, stderr = run_cli(["train", new_scene, "--out", out, "--init-from", old_model, "--resume"])
    assert code == 2 and "give one of them" in stderr


# The settings a fine-tune takes from MODEL when not given (none of them the defaults in tiny_config)
INHERITED = ("clip_model", "pretrained", "patch_size", "prompt_length", "prompt_depth", "variant")
LICENCE = "MIT (test weights)"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """cfipt-tiny random weights as a raw state-dict checkpoint file."""
    torch.manual_seed(13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        clip = load_backbone("cfipt-tiny", None)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save(clip.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def file_model(scene_dir, weights_file, tmp_path_factory):
    """A 1-epoch model from a checkpoint file, an ablation variant and a licence."""
    out = tmp_path_factory.mktemp("file") / "model"
    config = tiny_config(epochs=1, batch_size=8, pretrained=str(weights_file), variant="3",
                         weights_licence=LICENCE)  # fmt: skip
    train_model(scene_dir, out, config)
    return out


def _taken(stderr: str) -> list[str]:
    """The log lines (-v) saying which settings came from MODEL."""
    return [line for line in stderr.splitlines() if "taken from the model" in line]


def test_only_init_from_and_epochs_take_the_models_settings(old_model, new_scene, tmp_path, run_cli):
    out = tmp_path / "tuned"
    argv = ["-v", "train", new_scene, "--out", out, "--init-from", old_model, "--epochs", "1"]
    code, _, stderr = run_cli(argv)
    assert code == 0, stderr
    assert _taken(stderr) == [
        f"cfipt: INFO: --init-from {old_model}: --clip 'cfipt-tiny', --patch-size 5, --prompt-length 2, --prompt-depth 1, "
        "--variant 'full', --pretrained 'none' taken from the model"
    ]
    old, new = read_model_info(old_model), read_model_info(out)
    defaults = TrainConfig().to_dict()
    assert all(new.train_config[name] == old.train_config[name] for name in INHERITED)
    assert all(old.train_config[name] != defaults[name] for name in INHERITED if name != "variant")
    for key in ("clip_model", "pretrained", "patch_size", "n_prompt", "depth", "variant"):
        assert new.model_config[key] == old.model_config[key]
    assert new.meta["backbone"]["fingerprint"] == old.meta["backbone"]["fingerprint"]
    assert new.train_config["epochs"] == 1 and new.init_from["path"] == str(old_model.resolve())


def test_a_checkpoint_file_and_its_licence_come_from_the_model_and_are_checked(
    file_model, weights_file, new_scene, tmp_path, run_cli
):
    argv = ["train", new_scene, "--out", tmp_path / "tuned", "--init-from", file_model, "--epochs", "1"]
    code, _, stderr = run_cli(argv)
    assert code == 0, stderr
    old, new = read_model_info(file_model), read_model_info(tmp_path / "tuned")
    assert new.train_config["pretrained"] == str(weights_file.resolve()) == new.model_config["pretrained"]
    assert new.train_config["variant"] == "3" and new.meta["backbone"]["licence"] == LICENCE
    assert new.meta["backbone"]["checkpoint"] == old.meta["backbone"]["checkpoint"] is not None
    original = tmp_path / "original.pt"
    shutil.copy(weights_file, original)
    try:  # the same weights in other bytes: the recorded sha256 no longer holds
        torch.save({"state_dict": torch.load(original, weights_only=True)}, weights_file)
        code, _, stderr = run_cli([*argv[:3], tmp_path / "t2", *argv[4:]])
        assert code == 1 and "tiny.pt changed since training" in stderr and not (tmp_path / "t2").exists()
        weights_file.unlink()
        code, _, stderr = run_cli([*argv[:3], tmp_path / "t3", *argv[4:]])
        assert code == 1 and "is gone" in stderr and not (tmp_path / "t3").exists()
    finally:
        shutil.copy(original, weights_file)


def test_a_differing_setting_given_on_the_command_line_or_in_config_is_refused(
    old_model, new_scene, tmp_path, run_cli
):
    base = ["train", new_scene, "--out", tmp_path / "tuned", "--init-from", old_model, "--epochs", "1"]
    code, _, stderr = run_cli([*base, "--patch-size", "7"])
    assert code == 2 and "--patch-size 7 (the model's: 5)" in stderr and "use the model's" in stderr
    toml = tmp_path / "train.toml"
    toml.write_text("[train]\nprompt_depth = 2\n", encoding="utf-8")
    code, _, stderr = run_cli([*base, "--config", toml])
    assert code == 2 and "--prompt-depth 2 (the model's: 1)" in stderr
    toml.write_text('clip_model = "ViT-B-16-quickgelu"\n', encoding="utf-8")
    code, _, stderr = run_cli([*base, "--config", toml])
    assert code == 2 and "--clip 'ViT-B-16-quickgelu' (the model's: 'cfipt-tiny')" in stderr
    assert not (tmp_path / "tuned").exists()
    toml.write_text("patch_size = 5\nprompt_length = 2\n", encoding="utf-8")  # the model's values: fine
    code, _, stderr = run_cli(["-v", *base, "--config", toml])
    assert code == 0, stderr
    (shown,) = _taken(stderr)
    assert "--clip" in shown and "--patch-size" not in shown and "--prompt-length" not in shown
