"""`--co` of `cfipt predict`: GDAL's own option list decides, before any block is computed or written."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import rasterio
import torch
from predict_helpers import PatchLinear, model_info

from cfipt_cli.cli.app import main
from cfipt_cli.errors import EXIT_USAGE, CfiptUsageError
from cfipt_cli.predict.pipeline import predict_scene
from cfipt_cli.predict.settings import PredictOutputs, PredictSettings

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


# ------------------------------------------------------------------------ class maps are lossless
@pytest.mark.parametrize(
    ("co", "blamed"),
    [
        ({"COMPRESS": "JPEG"}, "COMPRESS=JPEG"),
        ({"COMPRESS": "JPEG", "JPEG_QUALITY": "10"}, "COMPRESS=JPEG"),
        ({"NBITS": "2"}, "NBITS=2"),  # class ids up to 6 need 3 bits
        ({"COMPRESS": "WEBP"}, "COMPRESS=WEBP"),
        ({"COMPRESS": "LERC", "MAX_Z_ERROR": "0.5"}, "MAX_Z_ERROR=0.5"),
        ({"DISCARD_LSB": "1"}, "DISCARD_LSB=1"),
    ],
)
def test_lossy_options_for_the_map_alone_are_usage_errors(setup, tmp_path, co, blamed):
    _scene, _, _info = setup
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(CfiptUsageError, match=f"{blamed}.*would change class ids.*written losslessly"):
        _predict(setup, _outputs(folder, co, extras=False))
    assert list(folder.iterdir()) == []  # refused before any block


def test_narrowing_that_still_holds_every_class_id_is_accepted(setup, tmp_path):
    assert setup[2].classes.max_id == 6
    outputs = _outputs(tmp_path, {"NBITS": "3"}, extras=False)  # ids up to 6 fit in 3 bits
    _predict(setup, outputs)
    reference = tmp_path / "ref"
    reference.mkdir()
    _predict(setup, _outputs(reference, {}, extras=False))
    with rasterio.open(tmp_path / "map.tif") as a, rasterio.open(reference / "map.tif") as b:
        assert (a.read(1) == b.read(1)).all()


def test_lossy_options_apply_to_the_float_rasters_only(setup, tmp_path, caplog):
    lossless, lossy = tmp_path / "a", tmp_path / "b"
    lossless.mkdir()
    lossy.mkdir()
    _predict(setup, _outputs(lossless, {"COMPRESS": "LERC"}))
    with caplog.at_level(logging.WARNING, logger="cfipt"):
        _predict(setup, _outputs(lossy, {"COMPRESS": "LERC", "MAX_Z_ERROR": "0.2"}))
    assert "applies to --proba/--confidence only" in caplog.text
    with rasterio.open(lossless / "map.tif") as a, rasterio.open(lossy / "map.tif") as b:
        assert (a.read(1) == b.read(1)).all() and b.tags()["CFIPT_PRODUCT"] == "class map"
    with rasterio.open(lossless / "proba.tif") as a, rasterio.open(lossy / "proba.tif") as b:
        exact, rounded = a.read(), b.read()
    valid = ~torch.isnan(torch.from_numpy(exact)).numpy()
    error = abs(exact[valid] - rounded[valid])
    assert error.max() <= 0.2 + 1e-6 and error.max() > 0  # the float raster took the lossy option


def test_lossy_option_detection():
    from cfipt_cli.io.lossless import lossless_subset, lossy_options

    assert lossy_options({"COMPRESS": "DEFLATE", "PREDICTOR": "2"}, "uint8", 200) == []
    assert lossy_options({"COMPRESS": "LERC", "MAX_Z_ERROR": "0"}, "uint8", 200) == []
    assert lossy_options({"COMPRESS": "WEBP", "WEBP_LOSSLESS": "YES"}, "uint8", 200) == []
    assert lossy_options({"NBITS": "8"}, "uint8", 255) == []
    assert lossy_options({"NBITS": "7"}, "uint8", 128) == ["NBITS=7"]
    assert lossy_options({"NBITS": "16"}, "float32") == ["NBITS=16"]  # half precision
    assert lossy_options({"COMPRESS": "JXL", "JXL_LOSSLESS": "NO"}, "uint8", 5) == ["COMPRESS=JXL"]
    assert lossy_options({"PIXELTYPE": "SIGNEDBYTE"}, "uint8", 200) == ["PIXELTYPE=SIGNEDBYTE"]
    assert lossless_subset({"COMPRESS": "JPEG", "JPEG_QUALITY": "10", "TILED": "YES"}, "uint8", 5) == {
        "TILED": "YES"
    }
    assert lossless_subset({"COMPRESS": "LERC_ZSTD", "MAX_Z_ERROR": "1"}, "uint8", 5) == {
        "COMPRESS": "LERC_ZSTD"
    }


def test_jpeg_through_the_cli_is_exit_2_and_writes_nothing(folders, tmp_path, capsys):
    scene, model = folders
    out = tmp_path / "maps"
    out.mkdir()
    with pytest.raises(SystemExit) as info:
        main(
            [
                "predict",
                str(scene),
                "--model",
                str(model),
                "--out",
                str(out / "m.tif"),
                "--co",
                "COMPRESS=JPEG",
            ]
        )
    err = capsys.readouterr().err
    assert info.value.code == EXIT_USAGE and err.count("\n") == 1 and "losslessly" in err
    assert list(out.iterdir()) == []


# --------------------------------------------- every output probed with exactly its options and dtype
@pytest.mark.parametrize(
    ("co", "extras", "phrases"),
    [
        # GDAL refuses these only when it encodes pixels: the probe writes some to every output
        ({"COMPRESS": "JPEG"}, True, ["GDAL cannot write proba.tif (float32, 3 bands)", "BitsPerSample 32"]),
        ({"COMPRESS": "LERC", "MAX_Z_ERROR": "-1"}, False, ["GDAL cannot write map.tif (uint8", "lerc"]),
        ({"COMPRESS": "LERC", "MAX_Z_ERROR": "-1"}, True, ["GDAL cannot write map.tif (uint8", "lerc"]),
        ({"NBITS": "4"}, True, ["--co NBITS=4: GDAL would ignore it for proba.tif (float32", "NBITS=16"]),
        ({"NBITS": "16"}, False, ["--co NBITS=16 does not fit map.tif (uint8 class ids)", "drop it"]),
    ],
)
def test_what_gdal_refuses_for_any_output_is_a_usage_error_before_any_block(
    setup, tmp_path, caplog, co, extras, phrases
):
    folder = tmp_path / "out"
    folder.mkdir()
    with caplog.at_level(logging.WARNING), pytest.raises(CfiptUsageError) as info:
        _predict(setup, _outputs(folder, co, extras=extras))
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, message
    assert "\n" not in message and "See previous exception" not in message
    assert list(folder.iterdir()) == []
    assert "applies to --proba" not in caplog.text  # no warning before the error: one line


def test_nbits_the_map_cannot_take_goes_to_the_float_rasters_only(setup, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cfipt"):
        _predict(setup, _outputs(tmp_path, {"NBITS": "16"}))  # half floats; uint8 ids cannot take it
    assert caplog.text.count("--co NBITS=16 applies to --proba/--confidence only") == 1
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.dtypes[0] == "uint8" and "NBITS" not in src.tags(1, ns="IMAGE_STRUCTURE")
    for name in ("proba.tif", "conf.tif"):
        with rasterio.open(tmp_path / name) as src:
            assert src.dtypes[0] == "float32" and src.tags(1, ns="IMAGE_STRUCTURE")["NBITS"] == "16"


def test_each_output_gets_exactly_the_options_it_is_probed_with():
    from cfipt_cli.io.lossless import unfit_options
    from cfipt_cli.io.mapio import class_map_options

    assert unfit_options({"NBITS": "16"}, "uint8") == ["NBITS=16"]
    assert unfit_options({"NBITS": "16"}, "uint16") == [] and unfit_options({"NBITS": "32"}, "uint16")
    assert unfit_options({"NBITS": "16"}, "float32") == [] and unfit_options({"NBITS": "4"}, "uint8") == []
    assert class_map_options({"NBITS": "16", "COMPRESS": "ZSTD"}, 6) == {"COMPRESS": "ZSTD"}
    assert class_map_options({"NBITS": "16"}, 300) == {"NBITS": "16"}  # a uint16 map takes it
    assert class_map_options({"NBITS": "4"}, 6) == {"NBITS": "4"}


def test_the_probe_writes_pixels_as_the_output_will(tmp_path):
    from rasterio.transform import from_origin

    from cfipt_cli.io.mapio import check_creation_options
    from cfipt_cli.io.rasters import Grid

    grid = Grid(40, 30, None, from_origin(0, 30, 1, 1))
    check_creation_options(grid, "uint8", 1, {"COMPRESS": "JPEG"})  # uint8 JPEG is fine for GDAL
    with pytest.raises(CfiptUsageError, match=r"GDAL cannot write conf\.tif"):
        check_creation_options(grid, "float32", 1, {"COMPRESS": "JPEG"}, "conf.tif")


def test_cli_float_only_option_warns_once_and_a_refused_one_is_one_line(folders, tmp_path, capsys):
    scene, model = folders
    argv = ["predict", scene, "--model", model, "--out", tmp_path / "m.tif", "--proba", tmp_path / "p.tif"]
    code, stderr = _cli([*argv, "--co", "NBITS=16"], capsys)
    assert code == 0, stderr
    assert stderr.count("--co NBITS=16 applies to --proba/--confidence only") == 1, stderr
    out = tmp_path / "refused"
    out.mkdir()
    argv = ["predict", scene, "--model", model, "--out", out / "m.tif", "--proba", out / "p.tif"]
    code, stderr = _cli([*argv, "--co", "COMPRESS=JPEG"], capsys)
    assert code == EXIT_USAGE and stderr.count("\n") == 1, stderr  # before the model loads (no warning)
    assert stderr.startswith("cfipt: error: --co COMPRESS=JPEG: GDAL cannot write p.tif (float32")
    assert list(out.iterdir()) == []
