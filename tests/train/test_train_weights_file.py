"""Training from a backbone checkpoint file: model.json records its name, sha256 and licence; predict
finds the file again (or says it is gone or changed); folders of older cfipts still load."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings

import pytest
import torch
from train_helpers import tiny_config

from cfipt_cli.cli.app import main
from cfipt_cli.contracts.model import load_model, read_model_info
from cfipt_cli.errors import CheckpointError, WeightsUnavailableError
from cfipt_cli.train.loop import train_model
from models import RandomBackboneWarning, load_backbone

LICENCE = "MIT (SkyScript repository)"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """cfipt-tiny random weights saved like SkyCLIP's epoch_20.pt (DDP prefixes under `state_dict`)."""
    torch.manual_seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        clip = load_backbone("cfipt-tiny", None)
    path = tmp_path_factory.mktemp("weights") / "epoch_20.pt"
    torch.save({"epoch": 20, "state_dict": {f"module.{k}": v for k, v in clip.state_dict().items()}}, path)
    return path


@pytest.fixture(scope="module")
def trained(small_scene, weights_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("from_file") / "model"
    config = tiny_config(epochs=1, pretrained=str(weights_file), weights_licence=LICENCE)
    train_model(small_scene, out, config)
    return out


def test_model_json_records_the_checkpoint_name_sha256_and_licence(trained, weights_file):
    backbone = read_model_info(trained).meta["backbone"]
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert backbone["checkpoint"] == {"name": "epoch_20.pt", "sha256": digest}
    assert backbone["licence"] == LICENCE and backbone["pretrained"] == str(weights_file.resolve())
    model, _ = load_model(trained)  # the file is where training found it, with its bytes
    assert model.backbone_fingerprint() == backbone["fingerprint"]


def test_a_changed_or_missing_checkpoint_file_is_one_clear_line(trained, weights_file, tmp_path):
    original = tmp_path / "original.pt"
    shutil.copy(weights_file, original)
    try:
        state = torch.load(original, weights_only=True)
        torch.save({"state_dict": state["state_dict"]}, weights_file)  # the same weights, other bytes
        with pytest.raises(CheckpointError, match=r"epoch_20\.pt changed since training \(sha256 ") as err:
            load_model(trained)
        assert "put the original file back" in str(err.value) and "\n" not in str(err.value)
        weights_file.unlink()
        with pytest.raises(
            WeightsUnavailableError, match=r"needs the backbone checkpoint epoch_20\.pt"
        ) as err:
            load_model(trained)
        assert "is gone" in str(err.value)
    finally:
        shutil.copy(original, weights_file)
    load_model(trained)


def test_a_model_folder_of_an_older_cfipt_without_these_keys_still_loads(trained, tmp_path):
    old = tmp_path / "old_model"
    shutil.copytree(trained, old)
    meta = json.loads((old / "model.json").read_text())
    del meta["backbone"]["checkpoint"], meta["backbone"]["licence"], meta["train_config"]["weights_licence"]
    (old / "model.json").write_text(json.dumps(meta))
    model, info = load_model(old)
    assert model.backbone_fingerprint() == info.meta["backbone"]["fingerprint"]


def test_tag_and_random_weights_record_no_checkpoint(small_scene, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        train_model(small_scene, tmp_path / "model", tiny_config(epochs=1))
    backbone = read_model_info(tmp_path / "model").meta["backbone"]
    assert backbone["checkpoint"] is None and backbone["licence"] is None


def test_a_damaged_checkpoint_record_is_refused(trained, tmp_path):
    old = tmp_path / "edited"
    shutil.copytree(trained, old)
    meta = json.loads((old / "model.json").read_text())
    meta["backbone"]["checkpoint"]["sha256"] = "abc"
    (old / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"'backbone\.checkpoint\.sha256' is wrong"):
        read_model_info(old)


def test_a_resnet_backbone_is_refused_with_one_line(small_scene, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(small_scene), "--out", str(tmp_path / "m"), "--clip", "RN50", "--pretrained",
              str(tmp_path / "RemoteCLIP-RN50.pt"), "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "--clip 'RN50' is a ResNet" in err[0] and "deep visual prompts" in err[0]
    assert not (tmp_path / "m").exists()


def test_a_file_of_another_architecture_fails_train_with_one_line(
    small_scene, weights_file, tmp_path, capsys
):
    state = torch.load(weights_file, weights_only=True)["state_dict"]
    state["module.visual.conv1.weight"] = torch.zeros(64, 3, 16, 16)  # a patch-16 tower, not cfipt-tiny's 8
    wrong = tmp_path / "wrong.pt"
    torch.save({"state_dict": state}, wrong)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(small_scene), "--out", str(tmp_path / "m"), "--clip", "cfipt-tiny", "--pretrained",
              str(wrong), "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code != 0 and len(err) == 1
    assert f"--pretrained {wrong} does not fit --clip 'cfipt-tiny'" in err[0]
    assert "visual.conv1.weight: file (64, 3, 16, 16), model (64, 3, 8, 8)" in err[0]
    assert not (tmp_path / "m").exists()
