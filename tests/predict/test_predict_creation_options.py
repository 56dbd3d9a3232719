"""`--co` of `cfipt predict`: GDAL's own option list decides, before any block is computed or written."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import rasterio
import torch
from predict_helpers import PatchLinear, model_info
from predict_scenes import write_model, write_scene

from cfipt_cli.app import main
from cfipt_cli.errors import EXIT_USAGE, CfiptUsageError
from cfipt_cli.prediction import PredictOutputs, PredictSettings, predict_scene

CPU = torch.device("cpu")
URL = "https://gdal.org/drivers/raster/gtiff.html"


@pytest.fixture
def setup(make_scene):
    scene = make_scene(n_classes=3)
    return scene, PatchLinear(len(scene.band_layout), 5, 3), model_info(scene, patch_size=5)


def _outputs(folder: Path, co: dict[str, str], extras: bool = True) -> PredictOutputs:
    return PredictOutputs(
        map_path=folder / "map.tif",
        proba_path=folder / "proba.tif" if extras else None,
        confidence_path=folder / "conf.tif" if extras else None,
        creation_options=co,
    )


def _predict(setup, outputs: PredictOutputs):
    scene, model, info = setup
    settings = PredictSettings(batch_size=16, block_size=8)
    return predict_scene(scene, model, info, outputs, settings, CPU, model_id="m")


@pytest.mark.parametrize(
    ("co", "phrases"),
    [
        ({"COMPRESS": "NOPE"}, ["--co COMPRESS=NOPE: GTiff accepts COMPRESS =", "LZW", "ZSTD", URL]),
        ({"compress": "nope"}, ["--co COMPRESS=nope"]),
        ({"NOT_AN_OPTION": "1"}, ["--co NOT_AN_OPTION=1: GTiff has no creation option NOT_AN_OPTION"]),
        ({"PREDICTOR": "3"}, ["--co PREDICTOR=3", "map.tif (uint8, 1 band)", "Float32"]),
        ({"BLOCKYSIZE": "100"}, ["--co BLOCKYSIZE=100", "multiples of 16"]),
    ],
)
def test_bad_options_raise_before_anything_is_written(setup, tmp_path, caplog, co, phrases):
    folder = tmp_path / "out"
    folder.mkdir()
    with caplog.at_level(logging.WARNING), pytest.raises(CfiptUsageError) as info:
        _predict(setup, _outputs(folder, co))
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert "\n" not in message
    assert list(folder.iterdir()) == []  # no map, no temporary file, no .map.tif.parts work folder
    assert not [r for r in caplog.records if r.name == "rasterio._env"]


def test_good_options_land_in_every_raster(setup, tmp_path, caplog):
    co = {"COMPRESS": "zstd", "BLOCKXSIZE": "256", "BLOCKYSIZE": "256"}
    with caplog.at_level(logging.WARNING):
        _predict(setup, _outputs(tmp_path, co))
    assert not [r for r in caplog.records if r.name == "rasterio._env"]
    for name in ("map.tif", "proba.tif", "conf.tif"):
        with rasterio.open(tmp_path / name) as src:
            assert src.profile["compress"].lower() == "zstd", name
            assert src.block_shapes[0] == (256, 256), name  # the default is 512
    with rasterio.open(tmp_path / "proba.tif") as src:
        assert src.interleaving.name.lower() == "band"


def test_caller_options_are_left_as_given(setup, tmp_path):
    co = {"compress": "lzw"}
    outputs = _outputs(tmp_path, co, extras=False)
    _predict(setup, outputs)
    assert outputs.creation_options == {"compress": "lzw"}
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.profile["compress"].lower() == "lzw"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("co_cli")
    scene = write_scene(root / "scene", height=11, width=13, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = write_model(root / "model", scene, patch_size=5)
    return scene, model


def _cli(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main([str(a) for a in argv])
    return int(info.value.code or 0), capsys.readouterr().err


# PREDICTOR=3 (uint8 map) and BLOCKXSIZE=100 pass the option list; GDAL refuses them in the probe, which
# runs before the backbone is built (its "random weights" warning would make a second stderr line).
@pytest.mark.parametrize("co", ["COMPRESS=NOPE", "NOPE=1", "PREDICTOR=3", "BLOCKXSIZE=100"])
def test_cli_bad_co_is_one_line_exit_2(folders, tmp_path, capsys, co):
    scene, model = folders
    out = tmp_path / "out"
    out.mkdir()
    argv = ["predict", scene, "--model", model, "--out", out / "map.tif", "--confidence", out / "c.tif"]
    code, stderr = _cli([*argv, "--co", co], capsys)
    assert code == EXIT_USAGE, stderr
    assert stderr.startswith(f"cfipt: error: --co {co}: ") and stderr.count("\n") == 1, stderr
    assert "CPLE_" not in stderr and "rasterio._env" not in stderr
    assert list(out.iterdir()) == []


def test_cli_good_co(folders, tmp_path, capsys):
    scene, model = folders
    argv = ["-q", "predict", scene, "--model", model, "--out", tmp_path / "map.tif"]
    code, stderr = _cli(
        [*argv, "--co", "COMPRESS=LZW", "--co", "BLOCKXSIZE=256", "--co", "BLOCKYSIZE=256"], capsys
    )
    assert code == 0, stderr
    assert "CPLE_" not in stderr
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.profile["compress"].lower() == "lzw" and src.block_shapes[0] == (256, 256)
