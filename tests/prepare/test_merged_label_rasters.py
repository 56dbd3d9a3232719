"""Several label rasters (and vector layers) merged by class name, and conflicts on nodata pixels."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from prepared_labels import label_rasters, prepare_labelled

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import ClassInfo, ClassTable, default_colour
from cfipt_cli.log import LOGGER_NAME


def _raster(path: Path, like: Path, ids: np.ndarray, names: dict[int, str] | None) -> Path:
    """A label raster on the grid of `like` holding `ids`, named by a `.aux.xml` when `names` is given."""
    with rasterio.open(like) as src:
        profile = src.profile
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(ids.astype(profile["dtype"])[None])
    if names:
        ClassTable(ClassInfo(i, n, default_colour(i)) for i, n in names.items()).write_aux_xml(path)
    return path


def _all_labels(scene: Scene) -> np.ndarray:
    train, test = label_rasters(scene)
    return train + test


def _by_name(scene: Scene, labels: np.ndarray) -> np.ndarray:
    """The class name of every pixel ('' = unlabelled)."""
    names = np.full(scene.classes.max_id + 1, "", dtype=object)
    for c in scene.classes:
        names[c.id] = c.name
    return names[labels]


def _names_of(truth: np.ndarray, names: list[str]) -> np.ndarray:
    return np.array(["", *names], dtype=object)[truth]


@pytest.fixture
def halves(scene_files, tmp_path):
    """a.tif: the left half of the truth, ids 1..4 as named by the scene; b.tif: the right half with
    the ids of its names swapped in pairs (Trees is 2 in b but 1 in a, ...), named by its .aux.xml."""
    truth, names = scene_files.polygon_truth, scene_files.class_names
    left = np.zeros(truth.shape, dtype=bool)
    left[:, : truth.shape[1] // 2] = True
    swap = np.array([0, 2, 1, 4, 3])  # file id of each scene id in b
    a = _raster(
        tmp_path / "a.tif", scene_files.label_raster, np.where(left, truth, 0), dict(enumerate(names, 1))
    )
    b_ids = np.where(left, 0, swap[truth])
    b = _raster(
        tmp_path / "b.tif", scene_files.label_raster, b_ids, {int(swap[k]): n for k, n in enumerate(names, 1)}
    )
    return a, b, b_ids


def test_label_rasters_with_names_are_matched_by_name(scene_files, halves, tmp_path):
    a, b, _ = halves
    scene = prepare_labelled(scene_files, tmp_path / "s", [a, b], None)
    assert scene.classes.names == scene_files.class_names  # the first raster's ids are kept
    expected = _names_of(scene_files.polygon_truth, scene_files.class_names)
    np.testing.assert_array_equal(_by_name(scene, _all_labels(scene)), expected)  # b's pixels too


def test_ids_named_differently_are_refused_when_a_file_has_no_names(scene_files, halves, tmp_path):
    a, b, b_ids = halves
    bare = _raster(tmp_path / "bare.tif", scene_files.label_raster, np.zeros_like(b_ids), None)
    with pytest.raises(DataError, match=r"class id 1 is 'Trees' in a\.tif but 'Grass' in b\.tif") as err:
        prepare_labelled(scene_files, tmp_path / "s", [a, b, bare], None)
    assert "\n" not in str(err.value)
    unnamed = b_ids.copy()
    unnamed[scene_files.polygon_truth == 4] = 7  # an id its .aux.xml does not name
    names = {2: "Trees", 1: "Grass", 4: "Buildings", 3: "Road"}
    odd = _raster(tmp_path / "odd.tif", scene_files.label_raster, unnamed, names)
    with pytest.raises(DataError, match=r"odd\.tif holds class ids \[7\] that its category names"):
        prepare_labelled(scene_files, tmp_path / "o", [a, odd], None)
    alike = _raster(tmp_path / "alike.tif", scene_files.label_raster, b_ids, {**names, 3: "grass"})
    with pytest.raises(DataError, match=r"alike\.tif names both 'Grass' and 'grass'"):
        prepare_labelled(scene_files, tmp_path / "g", [a, alike], None)
    assert not any((tmp_path / d).exists() for d in ("s", "o", "g"))


def test_the_labelling_loop_keeps_the_scene_ids_and_adds_new_names(scene_files, tmp_path, run_cli):
    """`cfipt prepare --labels scene/train_labels.tif --labels labelled.gpkg`: a previous scene whose ids
    are not 1..K in name order, plus filled-in points of known names and of a new one."""
    truth, names = scene_files.polygon_truth, scene_files.class_names  # Trees, Grass, Buildings, Road
    ids = np.array([0, 3, 5, 8, 0])  # Road is left out of the first scene
    first = _raster(
        tmp_path / "first.tif", scene_files.label_raster, ids[truth], {3: "Trees", 5: "Grass", 8: "Buildings"}
    )
    previous = prepare_labelled(scene_files, tmp_path / "scene", first, None, train_per_class="all")
    assert previous.classes.ids == [3, 5, 8]
    frame = gpd.read_file(scene_files.polygons)
    filled = frame[frame["class"].isin(["Grass", "Road"])].copy()
    filled["class"] = filled["class"].replace({"Road": "Wetland", "Grass": "GRASS"})  # new; Grass as typed
    filled.to_file(tmp_path / "labelled.gpkg")
    argv = ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", tmp_path / "next"]
    argv += ["--labels", previous.train_labels_path, "--labels", tmp_path / "labelled.gpkg"]
    code, _, stderr = run_cli([*argv, "--label-field", "class", "--train-per-class", "all"])
    assert code == 0, stderr
    scene = Scene.open(tmp_path / "next")
    assert dict(zip(scene.classes.ids, scene.classes.names, strict=True)) == {
        3: "Trees",
        5: "Grass",
        8: "Buildings",
        9: "Wetland",
    }
    expected = _names_of(truth, [*names[:3], "Wetland"])
    np.testing.assert_array_equal(_by_name(scene, _all_labels(scene)), expected)


def _hsi_with_nodata_rows(scene_files, path: Path, rows: int) -> Path:
    with rasterio.open(scene_files.hsi) as src:
        profile, data = src.profile, src.read()
    data[:, :rows] = np.nan
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def test_conflicts_on_nodata_are_a_warning_and_valid_ones_an_error(
    scene_files, halves, tmp_path, caplog, monkeypatch
):
    truth, names = scene_files.polygon_truth, dict(enumerate(scene_files.class_names, 1))
    hsi = _hsi_with_nodata_rows(scene_files, tmp_path / "hsi.tif", 8)
    other = np.where(truth > 0, truth % 4 + 1, 0)  # another class on every labelled pixel
    on_nodata = np.zeros(truth.shape, dtype=bool)
    on_nodata[:8] = True
    a = _raster(tmp_path / "all.tif", scene_files.label_raster, truth, names)
    b = _raster(tmp_path / "top.tif", scene_files.label_raster, np.where(on_nodata, other, 0), names)
    files = dataclasses.replace(scene_files, hsi=hsi)
    monkeypatch.setattr(logging.getLogger(LOGGER_NAME), "propagate", True)
    caplog.set_level("WARNING", logger=LOGGER_NAME)
    scene = prepare_labelled(files, tmp_path / "s", [a, b], None)
    n = int(np.sum(on_nodata & (truth > 0)))
    assert n > 0 and any(
        f"{n} pixels on nodata are given different classes" in r.getMessage() for r in caplog.records
    )
    labels = _all_labels(scene)
    np.testing.assert_array_equal(labels[~on_nodata], truth[~on_nodata])  # a's classes, nothing of b's
    assert not labels[on_nodata].any()
    into_valid = on_nodata.copy()
    into_valid[8] = True  # one more row, inside the valid footprint
    c = _raster(tmp_path / "more.tif", scene_files.label_raster, np.where(into_valid, other, 0), names)
    m = int(np.sum(truth[8] > 0))
    with pytest.raises(DataError, match=rf"all\.tif and more\.tif label {m} valid pixel\(s\) with different"):
        prepare_labelled(files, tmp_path / "x", [a, c], None)
    assert not (tmp_path / "x").exists()
