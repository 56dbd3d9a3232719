"""`cfipt predict` under the output policy: Ctrl-C says what is kept, a failed run leaves no empty work
folder, one run per output, unwritable outputs found before any block, old model folders refused."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from predict_helpers import PatchLinear, model_info

from cfipt_cli.cli.app import main
from cfipt_cli.errors import EXIT_ERROR, EXIT_USAGE, DataError, InterruptedRun
from cfipt_cli.io import outputs as policy
from cfipt_cli.predict.classifier import BlockClassifier
from cfipt_cli.predict.parts import PartStore
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.settings import PredictOutputs, PredictSettings

CPU = torch.device("cpu")


@pytest.fixture
def setup(make_scene):
    scene = make_scene(n_classes=3)
    return scene, PatchLinear(len(scene.band_layout), 5, 3), model_info(scene, patch_size=5)


def _predict(setup, out: Path):
    scene, model, info = setup
    settings = PredictSettings(batch_size=16, block_size=8)
    return predict_scene(scene, model, info, PredictOutputs(map_path=out), settings, CPU, model_id="m")


def _fail_after(monkeypatch, n: int, error: BaseException) -> None:
    original, calls = BlockClassifier.classify, {"n": 0}

    def classify(self, data):
        calls["n"] += 1
        if calls["n"] > n:
            raise error
        return original(self, data)

    monkeypatch.setattr(BlockClassifier, "classify", classify)


def test_ctrl_c_keeps_the_parts_and_says_how_to_resume(setup, tmp_path, monkeypatch):
    out = tmp_path / "map.tif"
    _fail_after(monkeypatch, 2, KeyboardInterrupt())
    with pytest.raises(
        InterruptedRun, match=r"interrupted; 2 of 9 blocks are saved in .*\.map\.tif\.parts.*resume"
    ):
        _predict(setup, out)
    assert len(list(PartStore(out).root.glob("block-*.npz"))) == 2
    monkeypatch.undo()
    assert _predict(setup, out)["blocks_computed"] == 7  # the rerun resumes


@pytest.mark.parametrize("error", [KeyboardInterrupt(), DataError("block 0 is unreadable")])
def test_a_run_that_saved_no_block_leaves_no_work_folder(setup, tmp_path, monkeypatch, error):
    _fail_after(monkeypatch, 0, error)
    (tmp_path / "out").mkdir()
    with pytest.raises((InterruptedRun, DataError)):
        _predict(setup, tmp_path / "out" / "map.tif")
    assert list((tmp_path / "out").iterdir()) == []  # no .map.tif.parts/job.json


def _cli(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main([str(a) for a in argv])
    return int(info.value.code or 0), capsys.readouterr().err


def test_a_second_predict_on_the_same_out_fails_with_one_line(folders, tmp_path, capsys):
    scene, model = folders
    out = tmp_path / "map.tif"
    with policy.locked_outputs([out]):
        code, err = _cli(capsys, "predict", scene, "--model", model, "--out", out)
    assert code == EXIT_ERROR and "being written by another cfipt run" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_unwritable_proba_is_found_before_any_block(folders, tmp_path, capsys, monkeypatch):
    scene, model = folders
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(BlockClassifier, "classify", lambda *a: pytest.fail("a block was computed"))
    code, err = _cli(
        capsys,
        "predict",
        scene,
        "--model",
        model,
        "--out",
        tmp_path / "m.tif",
        "--proba",
        tmp_path / "file" / "p.tif",
    )
    assert code == EXIT_ERROR and "cannot write in" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("where", ["scene", "model"])
def test_outputs_inside_the_model_or_scene_are_refused(folders, capsys, where):
    scene, model = folders
    target = {"scene": scene, "model": model}[where] / "map.tif"
    code, err = _cli(capsys, "predict", scene, "--model", model, "--out", target, "--overwrite")
    assert code == EXIT_USAGE and "would replace the input" in err and not target.exists()


def test_a_model_folder_of_the_older_format_must_be_retrained(folders, tmp_path, capsys):
    import shutil

    scene, model = folders
    old = tmp_path / "old_model"
    shutil.copytree(model, old)
    meta = json.loads((old / "model.json").read_text())
    meta["format_version"] = 1
    (old / "model.json").write_text(json.dumps(meta))
    code, err = _cli(capsys, "predict", scene, "--model", old, "--out", tmp_path / "m.tif")
    assert code == EXIT_ERROR and err.count("\n") == 1
    assert "made by an older cfipt" in err and "network differs" in err and "cfipt train" in err
    assert not (tmp_path / "m.tif").exists()


def test_the_backbone_error_does_not_name_an_option_predict_lacks(folders, tmp_path, capsys):
    import shutil

    scene, model = folders
    moved = tmp_path / "moved_weights"
    shutil.copytree(model, moved)
    meta = json.loads((moved / "model.json").read_text())
    meta["model_config"]["pretrained"] = str(tmp_path / "gone" / "open_clip_model.safetensors")
    (moved / "model.json").write_text(json.dumps(meta))
    code, err = _cli(capsys, "predict", scene, "--model", moved, "--out", tmp_path / "m.tif")
    assert code == EXIT_ERROR and err.count("\n") == 1, err
    assert "--pretrained" not in err and "weights it was trained with" in err


def test_half_written_parts_of_a_killed_run_are_removed_on_resume(tmp_path):
    store = PartStore(tmp_path / "map.tif")
    assert store.prepare({"job": 1}) == 0
    store.save(0, {"ids": np.zeros((2, 2), np.uint8)})
    (store.root / ".block-000003.tmp-99999").write_bytes(b"half a part")  # what kill -9 leaves
    assert store.prepare({"job": 1}) == 1  # the same job: its whole parts are kept
    assert sorted(p.name for p in store.root.iterdir()) == ["block-000000.npz", "job.json"]


def test_probabilities_written_over_a_map_take_no_palette_from_its_old_style(setup, tmp_path):
    """`--proba map.tif --overwrite` where a map was: cfipt's old map.qml would draw the float raster
    paletted in QGIS; it goes with the old map (a user's style would stay, see tests/io)."""
    import rasterio

    _predict(setup, tmp_path / "map.tif")
    assert (tmp_path / "map.qml").exists()
    scene, model, info = setup
    outputs = PredictOutputs(map_path=tmp_path / "other.tif", proba_path=tmp_path / "map.tif", overwrite=True)
    predict_scene(
        scene, model, info, outputs, PredictSettings(batch_size=16, block_size=8), CPU, model_id="m"
    )
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.dtypes[0] == "float32" and src.count == 3
    assert not (tmp_path / "map.qml").exists() and (tmp_path / "other.qml").exists()
