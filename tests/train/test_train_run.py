"""End-to-end training with the tiny backbone: accuracy, determinism, resume, the model folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import torch
from safetensors.torch import load_file
from train_helpers import tiny_config

from cfipt_cli.compute.patches import read_pixel_patches
from cfipt_cli.contracts.model import load_model, read_model_info
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CheckpointError
from cfipt_cli.train.loop import TrainingInterrupted, train_model
from cfipt_cli.train.output_rules import resume_config

pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def oa_on_test_pixels(model, info, scene_dir) -> float:
    """Test OA of a loaded model on every test pixel of the scene."""
    scene = Scene.open(scene_dir)
    with rasterio.open(scene.test_labels_path) as src:
        truth = src.read(1)
    rows, cols = np.nonzero(truth)
    with rasterio.open(scene.stack_path) as src:
        patches = read_pixel_patches(src, rows, cols, info.patch_size, info.mean, info.std)
    x = torch.from_numpy(patches)
    with torch.no_grad():
        logits = torch.cat(
            [
                model(x[i : i + 256, : info.n_hsi], x[i : i + 256, info.n_hsi :]).logits
                for i in range(0, len(x), 256)
            ]
        )
    predicted = np.array(info.class_ids)[logits.argmax(1).numpy()]
    return float((predicted == truth[rows, cols]).mean())


@pytest.fixture(scope="module")
def trained(scene_dir, tmp_path_factory):
    """One 5-epoch run on the separable scene (shared by the read-only checks below)."""
    out = tmp_path_factory.mktemp("run") / "model"
    summary = train_model(scene_dir, out, tiny_config(epochs=5, batch_size=8, lr=3e-3, val_fraction=0.25))
    return out, summary


def test_tiny_model_learns_separable_classes(trained, scene_dir):
    out, summary = trained
    model, info = load_model(out)
    oa = oa_on_test_pixels(model, info, scene_dir)
    assert oa > 0.5, f"test OA {oa:.3f} is not well above chance (0.25)"
    assert summary["status"] == "complete" and summary["epochs"] == 5
    assert summary["train_pixels"] == 36 and summary["val_pixels"] == 12


def test_model_folder_contents(trained, scene_dir):
    out, _ = trained
    info = read_model_info(out)
    meta = info.meta
    assert meta["status"] == "complete" and meta["epochs_done"] == 5
    assert meta["backbone"]["clip_model"] == "cfipt-tiny" and len(meta["backbone"]["fingerprint"]) == 64
    assert meta["train_config"]["epochs"] == 5 and meta["patch_size"] == 5
    assert meta["band_layout"] == ["hsi"] * 8 + ["lidar"]
    assert info.classes.names == ["Grass", "Trees", "Roads", "Water"]
    assert info.mean.tolist() == pytest.approx(Scene.open(scene_dir).band_mean.tolist())
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5]
    for record in log:
        assert {"loss", "crc", "trd", "train_oa", "lr", "val_oa", "seconds"} <= set(record)
        assert record["loss"] == pytest.approx(record["crc"] + 0.02 * record["trd"], rel=1e-4)
    assert log[-1]["loss"] < log[0]["loss"]
    model, _ = load_model(out)
    trainable = {k for k, _ in model.named_parameters() if _.requires_grad}
    assert trainable <= set(weights(out))  # trainable weights only: no frozen backbone tensor stored
    assert not any(k.startswith("backbone.") for k in weights(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint",
        "model.json",
        "model.safetensors",
        "train_log.jsonl",
    ]
    assert not list(out.parent.glob(".model.tmp-*"))


def test_same_config_gives_same_model(small_scene, tmp_path):
    config = tiny_config(epochs=1)
    train_model(small_scene, tmp_path / "a", config)
    train_model(small_scene, tmp_path / "b", config)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Patches read per batch by a DataLoader worker instead of the in-memory cache: the same model.
    train_model(small_scene, tmp_path / "d", tiny_config(epochs=1, num_workers=1), cache_bytes=0)
    d = weights(tmp_path / "d")
    assert all(torch.equal(a[k], d[k]) for k in a)
    train_model(small_scene, tmp_path / "c", tiny_config(epochs=1, seed=1))
    c = weights(tmp_path / "c")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_equals_one_go(small_scene, tmp_path):
    config = tiny_config(epochs=4, val_fraction=0.1)
    train_model(small_scene, tmp_path / "once", config)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    out = tmp_path / "twice"
    with pytest.raises(TrainingInterrupted, match=r"holds epoch 2 of 4.*--resume"):
        train_model(small_scene, out, config, on_epoch_end=stop_after_two)
    info = read_model_info(out)
    assert (info.meta["status"], info.epochs_done) == ("incomplete", 2)
    with pytest.raises(CheckpointError, match="unfinished training run"):
        load_model(out)
    resumed = resume_config(out, {"device": "cpu"})
    assert resumed == config
    summary = train_model(small_scene, out, resumed, resume=True)
    assert summary["resumed_from_epoch"] == 2 and summary["epochs"] == 4
    a, b = weights(tmp_path / "once"), weights(out)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)
    once = (tmp_path / "once" / "train_log.jsonl").read_text().splitlines()
    twice = (out / "train_log.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in once]
    assert strip == [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in twice]
    # Resuming a complete run trains nothing.
    before = weights(out)
    again = train_model(small_scene, out, resumed, resume=True)
    assert again["status"] == "complete"
    assert all(torch.equal(before[k], v) for k, v in weights(out).items())


def test_interrupt_in_first_epoch_writes_nothing(small_scene, tmp_path, monkeypatch):
    old = tmp_path / "model"
    train_model(small_scene, old, tiny_config(epochs=1))
    before = {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()}

    def interrupted(self, epoch, progress):
        raise KeyboardInterrupt

    monkeypatch.setattr("cfipt_cli.train.trainer.Trainer.run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_model(small_scene, old, tiny_config(epochs=3, seed=5), overwrite=True)
    assert {p.name: p.read_bytes() for p in old.iterdir() if p.is_file()} == before
    with pytest.raises(KeyboardInterrupt):
        train_model(small_scene, tmp_path / "new", tiny_config(epochs=3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left


def test_interrupt_after_first_epoch_keeps_it(small_scene, tmp_path):
    def stop(record):
        raise KeyboardInterrupt

    out = tmp_path / "model"
    with pytest.raises(TrainingInterrupted, match="holds epoch 1 of 3"):
        train_model(small_scene, out, tiny_config(epochs=3), on_epoch_end=stop)
    assert read_model_info(out).epochs_done == 1
    assert load_model(out, allow_incomplete=True)[1].epochs_done == 1
