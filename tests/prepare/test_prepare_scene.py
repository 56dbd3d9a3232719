"""End-to-end `cfipt prepare` on synthetic scenes: the scene folder contract, statistics, windows, split."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from prepared_labels import label_rasters, prepare_labelled

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file
from cfipt_cli.prepare.pipeline import prepare, prepare_scene
from cfipt_cli.prepare.request import LabelOptions, OutputOptions, PrepareRequest, SceneInputs
from cfipt_cli.prepare.split import SplitParams


def _argv(files, out):
    return [
        "prepare",
        "--hsi",
        files.hsi,
        "--lidar",
        files.lidar,
        "--sar",
        files.sar,
        "--labels",
        files.polygons,
        "--label-field",
        "class",
        "--out",
        out,
        "--train-per-class",
        10,
        "--seed",
        3,
    ]


@pytest.fixture(scope="module")
def prepared(scene_files, tmp_path_factory):
    """The synthetic scene (HSI + LiDAR + SAR, polygon labels) prepared once, through the library."""
    out = tmp_path_factory.mktemp("prepared") / "scene"
    prepare_scene(
        scene_files.hsi,
        lidar=[scene_files.lidar],
        sar=[scene_files.sar],
        labels=scene_files.polygons,
        label_field="class",
        out=out,
        train_per_class=10,
        seed=3,
    )
    return out


def test_cli_writes_the_scene_contract(scene_files, tmp_path, run_cli):
    out = tmp_path / "scene"
    code, stdout, stderr = run_cli([*_argv(scene_files, out), "--json"])
    assert code == 0
    summary = json.loads(stdout)
    scene = Scene.open(out)
    assert (scene.width, scene.height) == (40, 48)
    assert (scene.n_hsi, scene.n_aux) == (16, 3)
    assert scene.band_layout == ["hsi"] * 16 + ["lidar"] + ["sar"] * 2
    assert summary["bands"] == {"hsi": 16, "lidar": 1, "sar": 2}
    assert [c["train"] for c in summary["classes"]] == [10, 10, 10, 10]
    # the rich table goes to stderr, never to stdout
    assert "Buildings" in stderr and "│ total" in stderr and "│" not in stdout


def test_stack_is_tiled_float32_with_band_descriptions(prepared):
    out = prepared
    with rasterio.open(out / "stack.tif") as src:
        assert src.dtypes[0] == "float32" and src.count == 19
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
        assert src.compression.name.lower() == "deflate"
        assert np.isnan(src.nodata)
        assert src.descriptions[:2] == ("hsi:1", "hsi:2")
        assert src.descriptions[16:] == ("lidar:1", "sar:1", "sar:2")
        assert src.crs.to_epsg() == 32632
        stack = src.read()
    with rasterio.open(out / "mask.tif") as src:
        assert src.dtypes[0] == "uint8"
        mask = src.read(1).astype(bool)
    assert np.all(np.isfinite(stack[:, mask])) and np.all(np.isnan(stack[:, ~mask]))


def test_scene_json_records_sources_split_and_statistics(prepared, scene_files):
    out = prepared
    meta = json.loads((out / "scene.json").read_text())
    roles = [s["role"] for s in meta["sources"]]
    assert roles == ["hsi", "lidar", "sar", "labels"]
    assert meta["sources"][0]["sha256"] == sha256_file(scene_files.hsi)
    assert meta["sources"][1]["resampling"] == "bilinear" and meta["sources"][0]["resampling"] == "none"
    assert meta["split"]["seed"] == 3 and meta["split"]["train_per_class"] == 10
    assert meta["crs"].startswith("PROJCS") and meta["transform"][:3] == [2.0, 0.0, 664000.0]
    # statistics are those of the valid pixels of the written stack
    with rasterio.open(out / "stack.tif") as src:
        stack = src.read().reshape(19, -1).astype(np.float64)
    with rasterio.open(out / "mask.tif") as src:
        valid = src.read(1).ravel().astype(bool)
    stats = meta["statistics"]
    assert stats["count"] == int(valid.sum()) == meta["mask"]["valid_pixels"]
    np.testing.assert_allclose(stats["mean"], stack[:, valid].mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(stats["std"], stack[:, valid].std(axis=1), rtol=1e-7)
    np.testing.assert_allclose(stats["max"], stack[:, valid].max(axis=1))


def test_label_rasters_are_disjoint_with_colours_and_names(prepared):
    out = prepared
    scene = Scene.open(out)
    with rasterio.open(scene.train_labels_path) as src:
        train = src.read(1)
        cmap = src.colormap(1)
    with rasterio.open(scene.test_labels_path) as src:
        test = src.read(1)
    assert not np.any((train > 0) & (test > 0))
    counts = scene.meta["counts"]
    for c in scene.classes:
        assert int((train == c.id).sum()) == counts["train"][str(c.id)] == 10
        assert int((test == c.id).sum()) == counts["test"][str(c.id)]
        assert cmap[c.id][:3] == c.colour
    assert ClassTable.from_aux_xml(scene.train_labels_path) == ClassTable.from_names(scene.classes.names)
    for raster in (scene.train_labels_path, scene.test_labels_path):  # QGIS's default style of each
        palette = ET.fromstring(raster.with_suffix(".qml").read_text().split("\n", 2)[2]).iter("paletteEntry")
        assert [(e.get("value"), e.get("label")) for e in palette] == [
            (str(c.id), c.name) for c in scene.classes
        ]


def test_window_size_does_not_change_the_scene(scene_files, tmp_path):
    kwargs = dict(
        lidar=[scene_files.lidar],
        sar=[scene_files.sar],
        labels=scene_files.polygons,
        label_field="class",
        train_per_class=7,
        split="blocks",
        patch_size=3,
        block_size=8,
    )
    prepare_scene(scene_files.hsi, out=tmp_path / "big", window_size=512, **kwargs)
    prepare_scene(scene_files.hsi, out=tmp_path / "small", window_size=16, **kwargs)
    for name in ("mask.tif", "train_labels.tif", "test_labels.tif"):
        with rasterio.open(tmp_path / "big" / name) as a, rasterio.open(tmp_path / "small" / name) as b:
            np.testing.assert_array_equal(a.read(), b.read())
    # GDAL warps each window from its own origin: equal up to float32 rounding
    with (
        rasterio.open(tmp_path / "big" / "stack.tif") as a,
        rasterio.open(tmp_path / "small" / "stack.tif") as b,
    ):
        np.testing.assert_allclose(a.read(), b.read(), rtol=1e-5, atol=1e-3, equal_nan=True)
    big = json.loads((tmp_path / "big" / "scene.json").read_text())["statistics"]
    small = json.loads((tmp_path / "small" / "scene.json").read_text())["statistics"]
    np.testing.assert_allclose(big["mean"], small["mean"], rtol=1e-6)
    np.testing.assert_allclose(big["std"], small["std"], rtol=1e-5)


def test_classes_are_learnable_from_the_prepared_stack(scene_files, tmp_path):
    """A nearest-centroid classifier on normalised spectra + height separates the synthetic classes."""
    scene = prepare_labelled(scene_files, tmp_path / "s", scene_files.polygons, "class", train_per_class=15)
    with rasterio.open(scene.stack_path) as src:
        stack = src.read()
    train, test = label_rasters(scene)
    z = (stack - scene.band_mean[:, None, None]) / scene.band_std[:, None, None]
    ids = scene.classes.ids
    centroids = np.stack([z[:, train == k].mean(axis=1) for k in ids])
    pixels = z[:, test > 0].T
    predicted = np.asarray(ids)[np.argmin(((pixels[:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    assert np.mean(predicted == test[test > 0]) > 0.9


def test_prediction_only_scene_without_labels(scene_files, tmp_path, run_cli):
    code, stdout, _ = run_cli(
        ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", tmp_path / "p", "--json"]
    )
    assert code == 0
    scene = Scene.open(tmp_path / "p")
    assert len(scene.classes) == 0 and scene.meta["counts"] == {"train": {}, "test": {}}
    with rasterio.open(scene.train_labels_path) as src:
        assert src.read(1).max() == 0
    assert json.loads(stdout)["train_pixels"] == 0


def test_out_defaults_to_scene_in_the_working_folder(scene_files, tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    code, _, _ = run_cli(["-q", "prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar])
    assert code == 0 and Scene.open(tmp_path / "scene").n_aux == 1


def test_overwrite_replaces_an_existing_scene(scene_files, tmp_path, run_cli):
    out = tmp_path / "s"
    base = ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", out]
    assert run_cli(base)[0] == 0
    (out / "marker").write_text("old")
    assert run_cli([*base, "--sar", scene_files.sar, "--overwrite"])[0] == 0
    assert not (out / "marker").exists() and Scene.open(out).n_aux == 3


def test_creation_options_reach_the_stack(scene_files, tmp_path, run_cli):
    code, _, _ = run_cli(
        [
            "prepare",
            "--hsi",
            scene_files.hsi,
            "--lidar",
            scene_files.lidar,
            "--out",
            tmp_path / "s",
            "--co",
            "COMPRESS=LZW",
            "--co",
            "PREDICTOR=1",
        ]
    )
    assert code == 0
    with rasterio.open(tmp_path / "s" / "stack.tif") as src:
        assert src.compression.name.lower() == "lzw"


def test_hsi_nodata_override_masks_those_pixels(scene_files, tmp_path):
    with rasterio.open(scene_files.hsi) as src:
        first = src.read(1)
    value = float(first[5, 7])
    prepare_scene(scene_files.hsi, lidar=[scene_files.lidar], out=tmp_path / "s", hsi_nodata=value)
    with rasterio.open(tmp_path / "s" / "mask.tif") as src:
        mask = src.read(1)
    assert mask[5, 7] == 0 and mask.sum() == mask.size - int((first == np.float32(value)).sum())


def test_flat_keywords_become_the_typed_request():
    request = PrepareRequest.from_options(
        "h.tif", lidar=["d.tif"], labels="l.gpkg", label_field="class", split="blocks", patch_size=3, out="s"
    )
    assert request == PrepareRequest(
        SceneInputs("h.tif", lidar=["d.tif"]),
        LabelOptions(labels="l.gpkg", label_field="class"),
        SplitParams(mode="blocks", patch_size=3),
        OutputOptions(out="s"),
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'hsi_nodatta'"):
        PrepareRequest.from_options("h.tif", hsi_nodatta=0)
    with pytest.raises(CfiptUsageError, match="unknown split mode"):
        PrepareRequest.from_options("h.tif", split="x")


def test_the_request_and_the_flat_keywords_write_the_same_scene(scene_files, tmp_path):
    request = PrepareRequest(
        SceneInputs(scene_files.hsi, lidar=[scene_files.lidar]),
        LabelOptions(labels=scene_files.label_raster),
        SplitParams(train_per_class=5, seed=2),
        OutputOptions(out=tmp_path / "a"),
    )
    summary = prepare(request)
    flat = prepare_scene(
        scene_files.hsi,
        lidar=[scene_files.lidar],
        labels=scene_files.label_raster,
        train_per_class=5,
        seed=2,
        out=tmp_path / "b",
    )
    assert {**summary, "out": None} == {**flat, "out": None} and summary["train_pixels"] == 20
    for name in ("stack.tif", "mask.tif", "train_labels.tif", "test_labels.tif"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_windowed_pass_runs_under_a_block_cache_of_megabytes_not_bytes(
    scene_files, tmp_path, monkeypatch
):
    """rasterio hands GDAL_CACHEMAX to GDALSetCacheMax64 in bytes: `GDAL_CACHEMAX=256` was a 256-byte cache."""
    import cfipt_cli.prepare.pipeline as pipeline

    seen = {}
    real = pipeline.windowed_pass

    def spy(*args, **kwargs):
        seen["cache"] = rasterio.env.getenv().get("GDAL_CACHEMAX")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "windowed_pass", spy)
    prepare_scene(scene_files.hsi, lidar=[scene_files.lidar], out=tmp_path / "scene")
    assert seen["cache"] == pipeline.GDAL_CACHE_MB * 1024 * 1024
