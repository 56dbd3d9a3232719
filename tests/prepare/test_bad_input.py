"""Every bad input: exit code 1 or 2, exactly one error line, nothing written, inputs unchanged."""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import box

from cfipt_cli.errors import EXIT_ERROR, EXIT_USAGE

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


@pytest.fixture
def inputs(scene_files, tmp_path):
    """A private copy of the synthetic inputs (so that tests may add broken files beside them)."""
    folder = tmp_path / "in"
    shutil.copytree(scene_files.root, folder)
    return folder


def _check_failure(run_cli, tree_digest, argv, folder, out, code, phrases):
    before = tree_digest(folder)
    got, stdout, stderr = run_cli([*argv, "--out", out])
    assert got == code, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("cfipt: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert stdout == ""
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]
    assert tree_digest(folder) == before
    return errors[0]


def _base(folder):
    return ["prepare", "--hsi", folder / "hsi.tif", "--lidar", folder / "lidar.tif"]


def test_missing_file(run_cli, tree_digest, inputs, tmp_path):
    argv = ["prepare", "--hsi", inputs / "hsi.tif", "--lidar", inputs / "nope.tif"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["nope.tif", "does not exist"]
    )


def test_missing_label_file(run_cli, tree_digest, inputs, tmp_path):
    argv = [*_base(inputs), "--labels", inputs / "none.gpkg", "--label-field", "class"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["none.gpkg", "does not exist"]
    )


def test_corrupt_raster(run_cli, tree_digest, inputs, tmp_path):
    (inputs / "broken.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    argv = ["prepare", "--hsi", inputs / "hsi.tif", "--lidar", inputs / "broken.tif"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["cannot read", "broken.tif"]
    )


def test_corrupt_mat_file(run_cli, tree_digest, inputs, tmp_path):
    (inputs / "broken.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 50)
    argv = ["prepare", "--hsi", inputs / "broken.mat", "--lidar", inputs / "lidar.tif"]
    _check_failure(run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["broken.mat"])


def test_non_overlapping_footprints(run_cli, tree_digest, shared, tmp_path):
    rgb, shade = shared("georef", "RGB.byte.tif"), shared("georef", "shade.tif")
    argv = ["prepare", "--hsi", rgb, "--lidar", shade]
    _check_failure(
        run_cli, tree_digest, argv, rgb.parent, tmp_path / "s", EXIT_ERROR, ["shade.tif", "does not overlap"]
    )


def _plain_copy(src_path, dst_path):
    """The raster without CRS and transform (a plain pixel grid)."""
    with rasterio.open(src_path) as src:
        data, dtype = src.read(), src.dtypes[0]
    with rasterio.open(
        dst_path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=dtype,
    ) as dst:
        dst.write(data)


def test_crs_on_one_source_only(run_cli, tree_digest, inputs, tmp_path):
    _plain_copy(inputs / "hsi.tif", inputs / "plain.tif")
    argv = ["prepare", "--hsi", inputs / "hsi.tif", "--lidar", inputs / "plain.tif"]
    _check_failure(run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["has a CRS", "plain.tif"])


def test_no_crs_on_both_needs_equal_shapes(run_cli, tree_digest, inputs, tmp_path):
    _plain_copy(inputs / "hsi.tif", inputs / "plain_hsi.tif")
    _plain_copy(inputs / "lidar.tif", inputs / "plain_lidar.tif")  # another shape
    argv = ["prepare", "--hsi", inputs / "plain_hsi.tif", "--lidar", inputs / "plain_lidar.tif"]
    _check_failure(run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["no CRS", "shapes"])


def test_no_crs_on_both_with_equal_shapes_is_allowed(run_cli, inputs, tmp_path):
    _plain_copy(inputs / "hsi.tif", inputs / "plain_hsi.tif")
    _plain_copy(inputs / "hsi.tif", inputs / "plain_aux.tif")
    code, _, _ = run_cli(
        [
            "prepare",
            "--hsi",
            inputs / "plain_hsi.tif",
            "--lidar",
            inputs / "plain_aux.tif",
            "--out",
            tmp_path / "s",
        ]
    )
    assert code == 0
    with rasterio.open(tmp_path / "s" / "stack.tif") as src:
        assert src.crs is None and src.count == 32


def test_label_field_that_does_not_exist_lists_the_fields(run_cli, tree_digest, inputs, tmp_path):
    argv = [*_base(inputs), "--labels", inputs / "labels.gpkg", "--label-field", "klass"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["'klass'", "fields: class, class_id"]
    )


def test_class_with_no_pixel_inside_the_footprint(run_cli, tree_digest, inputs, tmp_path):
    labels = gpd.read_file(inputs / "labels.gpkg")
    far = gpd.GeoDataFrame(
        {"class": ["Ghost"], "class_id": [9]}, geometry=[box(10.0, 40.0, 10.001, 40.001)], crs="EPSG:4326"
    )
    gpd.pd.concat([labels, far]).to_file(inputs / "ghost.gpkg", driver="GPKG")
    argv = [*_base(inputs), "--labels", inputs / "ghost.gpkg", "--label-field", "class"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["'Ghost'", "no labelled pixel"]
    )


def test_all_nodata_band(run_cli, tree_digest, inputs, tmp_path):
    with rasterio.open(inputs / "hsi.tif") as src:
        data, profile = src.read(), src.profile
    data[2] = np.nan
    with rasterio.open(inputs / "holey.tif", "w", **profile) as dst:
        dst.write(data)
    argv = ["prepare", "--hsi", inputs / "holey.tif", "--lidar", inputs / "lidar.tif"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["hsi:3", "no valid pixel"]
    )


def test_existing_output_is_untouched(run_cli, tree_digest, inputs, tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    got, _, stderr = run_cli([*_base(inputs), "--out", out])
    assert got == EXIT_ERROR and "already exists" in stderr and "--overwrite" in stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"


def test_output_over_an_input_is_refused(run_cli, tree_digest, inputs):
    before = tree_digest(inputs)
    got, _, stderr = run_cli([*_base(inputs), "--overwrite", "--out", inputs / "hsi.tif"])
    assert got == EXIT_USAGE and "would replace the input" in stderr
    assert tree_digest(inputs) == before


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (["--split", "diagonal"], "unknown split mode"),
        (["--resampling", "fancy"], "unknown resampling"),
        (["--train-per-class", "0"], "at least 1"),
        (["--co", "NOEQUALS"], "NAME=VALUE"),
        (["--test-labels", "labels.gpkg"], "--test-labels needs --labels"),
    ],
)
def test_usage_errors_exit_2(run_cli, tree_digest, inputs, tmp_path, extra, phrase):
    extra = [str(inputs / e) if e.endswith(".gpkg") else e for e in extra]
    _check_failure(
        run_cli, tree_digest, [*_base(inputs), *extra], inputs, tmp_path / "s", EXIT_USAGE, [phrase]
    )


def test_no_auxiliary_source_is_a_usage_error(run_cli, tree_digest, inputs, tmp_path):
    argv = ["prepare", "--hsi", inputs / "hsi.tif"]
    _check_failure(run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_USAGE, ["--lidar and/or --sar"])


def test_vector_labels_without_field_name_the_fields(run_cli, tree_digest, inputs, tmp_path):
    argv = [*_base(inputs), "--labels", inputs / "labels.gpkg"]
    _check_failure(
        run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_USAGE, ["--label-field", "class_id"]
    )


def test_vector_labels_need_a_georeferenced_hsi(run_cli, tree_digest, inputs, tmp_path):
    _plain_copy(inputs / "hsi.tif", inputs / "plain_hsi.tif")
    _plain_copy(inputs / "hsi.tif", inputs / "plain_aux.tif")
    argv = [
        "prepare",
        "--hsi",
        inputs / "plain_hsi.tif",
        "--lidar",
        inputs / "plain_aux.tif",
        "--labels",
        inputs / "labels.gpkg",
        "--label-field",
        "class",
    ]
    _check_failure(run_cli, tree_digest, argv, inputs, tmp_path / "s", EXIT_ERROR, ["georeferenced HSI"])
