"""`--co` of `cfipt prepare`: checked against GDAL's own option list before anything is written."""

from __future__ import annotations

import logging

import pytest
import rasterio

from cfipt_cli.errors import EXIT_USAGE, CfiptUsageError
from cfipt_cli.io import creation_options
from cfipt_cli.io.creation_options import driver_creation_options, validate_creation_options
from cfipt_cli.prepare.pipeline import prepare_scene

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
URL = "https://gdal.org/drivers/raster/gtiff.html"


def _argv(scene_files, out, *co):
    argv = ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", out]
    for item in co:
        argv += ["--co", item]
    return argv


def _nothing_written(out):
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary folder either


# ------------------------------------------------------------------------------ the list from GDAL
def test_gdal_option_list_is_read():
    specs = driver_creation_options()
    assert specs is not None, "GDAL's DMD_CREATIONOPTIONLIST of GTiff could not be read"
    assert {"COMPRESS", "BLOCKXSIZE", "TILED", "PREDICTOR", "BIGTIFF"} <= set(specs)
    assert specs["COMPRESS"].type == "string-select" and "DEFLATE" in specs["COMPRESS"].values
    assert specs["BLOCKXSIZE"].type == "int" and specs["TILED"].type == "boolean"


def test_enumerated_values_come_from_gdal():
    with pytest.raises(CfiptUsageError) as info:
        validate_creation_options({"COMPRESS": "NOPE"})
    message = str(info.value)
    assert message.startswith("--co COMPRESS=NOPE: GTiff accepts COMPRESS = ") and URL in message
    assert ", ".join(driver_creation_options()["COMPRESS"].values) in message  # type: ignore[index]
    assert "\n" not in message


def test_names_and_values_are_case_insensitive_and_canonical():
    got = validate_creation_options(
        {"compress": "zstd", "Tiled": "on", "blockxsize": " 128", "zstd_level": "+5", "num_threads": "2"}
    )
    assert got == {
        "COMPRESS": "ZSTD",
        "TILED": "YES",
        "BLOCKXSIZE": "128",
        "ZSTD_LEVEL": "5",
        "NUM_THREADS": "2",
    }


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        ({"FROB": "1"}, ["--co FROB=1", "GTiff has no creation option FROB"]),
        ({"COMPRES": "LZW"}, ["no creation option COMPRES", "did you mean COMPRESS?"]),
        ({"ZLEVEL": "abc"}, ["--co ZLEVEL=abc", "expects an integer for ZLEVEL"]),
        ({"BLOCKXSIZE": "25.5"}, ["expects an integer for BLOCKXSIZE"]),
        ({"TILED": "maybe"}, ["expects YES or NO for TILED"]),
        ({"MAX_Z_ERROR": "small"}, ["expects a number for MAX_Z_ERROR"]),
        ({"BIGTIFF": ""}, ["--co BIGTIFF=:", "IF_SAFER"]),
    ],
)
def test_bad_names_and_values(options, phrases):
    with pytest.raises(CfiptUsageError) as info:
        validate_creation_options(options)
    for phrase in phrases:
        assert phrase in str(info.value), str(info.value)


# ------------------------------------------------------------------------------------ the command
@pytest.mark.parametrize(
    ("co", "phrases"),
    [
        ("COMPRESS=NOPE", ["--co COMPRESS=NOPE: GTiff accepts COMPRESS =", "DEFLATE", "ZSTD", URL]),
        ("FROB=1", ["--co FROB=1: GTiff has no creation option FROB"]),
        ("BLOCKXSIZE=100", ["--co BLOCKXSIZE=100", "stack.tif", "multiples of 16"]),
        # GDAL refuses it only when encoding pixels: the probe writes some, before any work
        (
            "COMPRESS=LERC MAX_Z_ERROR=-1",
            ["--co COMPRESS=LERC MAX_Z_ERROR=-1: GDAL cannot write stack.tif (float32", "lerc_encode"],
        ),
    ],
)
def test_bad_co_is_one_usage_line_and_writes_nothing(scene_files, tmp_path, run_cli, co, phrases):
    out = tmp_path / "out" / "s"
    out.parent.mkdir()
    code, stdout, stderr = run_cli(_argv(scene_files, out, *co.split()))
    assert code == EXIT_USAGE, stderr
    assert stderr.startswith("cfipt: error: ") and stderr.count("\n") == 1, stderr
    for phrase in phrases:
        assert phrase in stderr, stderr
    assert "CPLE_" not in stderr and "rasterio._env" not in stderr
    assert stdout == ""
    _nothing_written(out)


@pytest.mark.parametrize("options", [{"COMPRESS": "NOPE"}, {"frob": "1"}])
def test_library_call_refuses_bad_options(scene_files, tmp_path, options):
    out = tmp_path / "out" / "s"
    out.parent.mkdir()
    with pytest.raises(CfiptUsageError):
        prepare_scene(scene_files.hsi, lidar=[scene_files.lidar], out=out, creation_options=options)
    _nothing_written(out)


def test_good_options_land_in_the_stack(scene_files, tmp_path, run_cli, caplog):
    out = tmp_path / "s"
    with caplog.at_level(logging.WARNING):
        code, _, stderr = run_cli(
            _argv(scene_files, out, "compress=zstd", "TILED=on", "BLOCKXSIZE=128", "BLOCKYSIZE=128")
        )
    assert code == 0, stderr
    assert "CPLE_" not in stderr and not [r for r in caplog.records if r.name == "rasterio._env"]
    with rasterio.open(out / "stack.tif") as src:
        assert src.profile["compress"].lower() == "zstd"
        assert src.profile["tiled"] and src.block_shapes[0] == (128, 128)  # TILED=on read as YES
        assert src.profile["blockxsize"] == 128 and src.profile["blockysize"] == 128


def test_gdal_warnings_are_caught_without_the_option_list(scene_files, tmp_path, monkeypatch, caplog):
    """Without GDAL's list (a rasterio ctypes cannot reach), the probe still turns the warnings into exit 2."""
    monkeypatch.setattr(creation_options, "driver_creation_options", lambda driver="GTiff": None)
    out = tmp_path / "out" / "s"
    out.parent.mkdir()
    with caplog.at_level(logging.WARNING), pytest.raises(CfiptUsageError) as info:
        prepare_scene(
            scene_files.hsi, lidar=[scene_files.lidar], out=out, creation_options={"COMPRESS": "NOPE"}
        )
    assert "--co COMPRESS=NOPE" in str(info.value) and "unexpected value" in str(info.value)
    assert not [r for r in caplog.records if r.name == "rasterio._env"]  # captured, not logged
    _nothing_written(out)


# -------------------------------------------------------------------------------- --out over input
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_out_equal_to_an_input_is_a_usage_error_first(scene_files, tmp_path, run_cli, tree_digest, overwrite):
    import shutil

    folder = tmp_path / "in"
    shutil.copytree(scene_files.root, folder)
    before = tree_digest(folder)
    argv = [
        "prepare",
        "--hsi",
        folder / "hsi.tif",
        "--lidar",
        folder / "lidar.tif",
        "--out",
        folder / "hsi.tif",
    ]
    code, _, stderr = run_cli([*argv, *overwrite])
    assert code == EXIT_USAGE, stderr
    assert "would replace the input" in stderr and "already exists" not in stderr
    assert stderr.count("\n") == 1
    assert tree_digest(folder) == before


def test_library_out_equal_to_an_input_without_overwrite(scene_files):
    with pytest.raises(CfiptUsageError, match="would replace the input"):
        prepare_scene(scene_files.hsi, lidar=[scene_files.lidar], out=scene_files.lidar)


# ------------------------------------------------------------------------ the stack is lossless
@pytest.mark.parametrize(
    "co",
    [
        ["COMPRESS=JPEG"],
        ["COMPRESS=LERC", "MAX_Z_ERROR=0.5"],
        ["COMPRESS=LERC_ZSTD", "MAX_Z_ERROR=0.001"],
        ["NBITS=16"],  # half precision
        ["DISCARD_LSB=4"],
    ],
)
def test_lossy_stack_options_are_refused_before_any_work(run_cli, scene_files, tmp_path, co):
    out = tmp_path / "scene"
    code, _, stderr = run_cli(_argv(scene_files, out, *co))
    assert code == EXIT_USAGE and stderr.count("\n") == 1, stderr
    assert "is lossy for stack.tif" in stderr and "statistics" in stderr
    _nothing_written(out)


def test_lossless_lerc_is_accepted_and_the_statistics_describe_the_stack(run_cli, scene_files, tmp_path):
    import json

    import numpy as np

    out = tmp_path / "scene"
    code, _, stderr = run_cli(
        ["-q", *_argv(scene_files, out, "COMPRESS=LERC", "MAX_Z_ERROR=0", "INTERLEAVE=BAND")]
    )
    assert code == 0, stderr
    with rasterio.open(out / "stack.tif") as src:
        stack = src.read()
    means = json.loads((out / "scene.json").read_text())["statistics"]["mean"]
    valid = np.isfinite(stack).all(axis=0)
    assert np.allclose(stack[:, valid].mean(axis=1), means, rtol=1e-5)
