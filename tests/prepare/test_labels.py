"""Labels: vector layers in another CRS land on the intended pixels; label rasters; class tables."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from prepared_labels import label_rasters, prepare_labelled
from shapely.geometry import box

from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.vectors import integer_class_ids
from cfipt_cli.prepare.labels import read_class_names


def _prepare(files, out, labels, field, **kwargs):
    """Train + test labels of the prepared scene (they are disjoint), and its class table."""
    scene = prepare_labelled(files, out, labels, field, **kwargs)
    train, test = label_rasters(scene)
    assert not np.any((train > 0) & (test > 0))
    return train + test, scene.classes


def test_polygons_in_another_crs_land_on_their_pixels(scene_files, tmp_path):
    assert gpd.read_file(scene_files.polygons).crs.to_epsg() == 4326  # the HSI is in EPSG:32632
    labels, table = _prepare(scene_files, tmp_path / "s", scene_files.polygons, "class")
    names = scene_files.class_names
    expected = np.zeros_like(labels)
    for k, name in enumerate(names, start=1):  # names are numbered in sorted order in the scene
        expected[scene_files.polygon_truth == k] = table.id_of(name)
    np.testing.assert_array_equal(labels, expected)
    assert table.names == sorted(names)


def test_integer_field_gives_the_ids(scene_files, tmp_path):
    labels, table = _prepare(scene_files, tmp_path / "s", scene_files.polygons, "class_id")
    np.testing.assert_array_equal(labels, scene_files.polygon_truth)
    assert table.ids == [1, 2, 3, 4] and table.names == [f"class {i}" for i in range(1, 5)]


def test_points_mark_their_pixels(scene_files, tmp_path):
    labels, _ = _prepare(scene_files, tmp_path / "s", scene_files.points, "class_id", train_per_class=2)
    expected = np.zeros_like(labels)
    expected[scene_files.point_rows, scene_files.point_cols] = scene_files.point_classes
    np.testing.assert_array_equal(labels, expected)


def test_label_raster_with_category_names(scene_files, tmp_path):
    ClassTable.from_names(["Trees", "Grass", "Buildings", "Road"]).write_aux_xml(scene_files.label_raster)
    try:
        labels, table = _prepare(scene_files, tmp_path / "s", scene_files.label_raster, None)
    finally:
        (scene_files.label_raster.parent / (scene_files.label_raster.name + ".aux.xml")).unlink()
    np.testing.assert_array_equal(labels, scene_files.polygon_truth)
    assert table.names == ["Trees", "Grass", "Buildings", "Road"]


def test_all_touched_burns_every_touched_pixel(scene_files, tmp_path):
    t = scene_files.transform
    x, y = t @ (10.0, 12.0)  # a pixel corner; the square holds no pixel centre
    square = box(x - 0.4, y - 0.4, x + 0.4, y + 0.4)
    gpd.GeoDataFrame({"kind": ["Trees"]}, geometry=[square], crs="EPSG:32632").to_file(tmp_path / "sq.gpkg")
    labels, _ = _prepare(scene_files, tmp_path / "touched", tmp_path / "sq.gpkg", "kind", all_touched=True)
    assert sorted(map(tuple, np.argwhere(labels).tolist())) == [(11, 9), (11, 10), (12, 9), (12, 10)]
    with pytest.raises(DataError, match="'Trees'"):  # without --all-touched the class has no pixel
        _prepare(scene_files, tmp_path / "centre", tmp_path / "sq.gpkg", "kind")


def test_class_names_file_sets_ids_names_and_colours(scene_files, tmp_path):
    csv_path = tmp_path / "names.csv"
    csv_path.write_text(
        "id,name,colour\n7,Trees,#00ff00\n3,Grass,#88ff88\n9,Buildings,#ff0000\n4,Road,#444444\n"
    )
    labels, table = _prepare(scene_files, tmp_path / "s", scene_files.polygons, "class", class_names=csv_path)
    assert table.ids == [3, 4, 7, 9] and table.name_of(7) == "Trees"
    assert next(c for c in table if c.id == 9).colour == (255, 0, 0)
    np.testing.assert_array_equal(labels == 7, scene_files.polygon_truth == 1)


def test_class_names_file_must_know_every_name(scene_files, tmp_path):
    (tmp_path / "names.json").write_text(json.dumps(["Trees", "Grass"]))
    with pytest.raises(DataError, match="not in the class table"):
        _prepare(
            scene_files, tmp_path / "s", scene_files.polygons, "class", class_names=tmp_path / "names.json"
        )


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ('["A", "B"]', ".json", {1: "A", 2: "B"}),
        ('{"5": "A", "2": {"name": "B", "colour": "#010203"}}', ".json", {2: "B", 5: "A"}),
        ("# comment\n1,A\n4,B,#ffffff\n", ".csv", {1: "A", 4: "B"}),
    ],
)
def test_read_class_names_formats(tmp_path, text, suffix, expected):
    path = tmp_path / f"names{suffix}"
    path.write_text(text)
    table = read_class_names(path)
    assert {c.id: c.name for c in table} == expected


def test_independent_test_labels_are_mapped_by_name(scene_files, tmp_path):
    options = {"test_labels": scene_files.points, "train_per_class": 5}
    scene = prepare_labelled(scene_files, tmp_path / "s", scene_files.polygons, "class", **options)
    train, test = label_rasters(scene)
    names = scene_files.class_names
    expected = np.zeros_like(test)
    for r, c, k in zip(
        scene_files.point_rows, scene_files.point_cols, scene_files.point_classes, strict=True
    ):
        expected[r, c] = scene.classes.id_of(names[k - 1])
    expected[train > 0] = 0  # a test pixel is never a training pixel
    np.testing.assert_array_equal(test, expected)
    assert scene.meta["split"]["test_labels"].endswith("points.gpkg")
    assert (train > 0).sum() == 5 * len(scene.classes)


# ------------------------------------------------------------------- integer fields hold class ids
def _with_field(scene_files, tmp_path, values):
    """The polygons with field 'code' = values[class_id - 1] (one value per class)."""
    frame = gpd.read_file(scene_files.polygons)
    frame["code"] = [values[int(i) - 1] for i in frame["class_id"]]
    path = tmp_path / "labels.gpkg"
    frame.to_file(path)
    return path


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([1, 2, 3, -3], "-3"),  # one bad value must not renumber the others
        ([1, 2, 3, 70000], "70000"),
        ([0, 1, 2, 3], "0"),
        ([1.0, 2.0, 3.0, 2.5], "2.5"),
        (["1", "2", "3", "-3"], "-3"),  # integers written as text are integers too
        (["1", "2", "3", "1.5"], "1.5"),  # text ids and a text that is no integer: not names
        (["1", "2", "3", "1e0"], "1e0"),
        (["1", "2", "3", "True"], "True"),
    ],
)
def test_ids_mixed_with_values_that_are_not_ids_are_an_error_not_a_renumbering(
    scene_files, tmp_path, values, shown
):
    labels = _with_field(scene_files, tmp_path, values)
    with pytest.raises(
        DataError,
        match=rf"label field of labels.gpkg holds class ids and values that are not ids: '{shown}' "
        r"\(\d+ features?\); use ids only .*, names only, or --class-names",
    ):
        _prepare(scene_files, tmp_path / "s", labels, "code")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", "3"], [1, 2, 3]),
        ([" 1 ", "+2", "03"], [1, 2, 3]),
        ([1.0, 2.0, 3.0], [1, 2, 3]),
        (["Grass", "Parking lot 1", "Water"], None),  # names, even with a digit inside
        ([True, False, True], None),  # a boolean field is names
        ([0, 0, -1], None),  # no possible id: names (with a warning)
        (["0", "-1", "x"], None),
    ],
)
def test_integer_class_ids_of_fields_of_ids_or_names(values, expected):
    got = integer_class_ids(pd.Series(values), "the field")
    assert (got is None and expected is None) or list(got) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["1", "2", True], r"'True' \(1 feature\)"),  # a bool among text ids (an object field)
        ([1, 2, 2.5, 2.5], r"'2.5' \(2 features\)"),
        (["1", "Grass", "Grass", "0"], r"'0' \(1 feature\), 'Grass' \(2 features\)"),
    ],
)
def test_integer_class_ids_names_every_value_that_is_not_an_id(values, message):
    with pytest.raises(
        DataError, match=rf"the field holds class ids and values that are not ids: {message}; "
    ):
        integer_class_ids(
            pd.Series(values, dtype=object if isinstance(values[0], str) else None), "the field"
        )


def test_integers_written_as_text_keep_their_ids(scene_files, tmp_path):
    labels = _with_field(scene_files, tmp_path, ["1", "2", "10", "3"])  # sorted as names: 1, 10, 2, 3
    got, table = _prepare(scene_files, tmp_path / "s", labels, "code")
    assert table.ids == [1, 2, 3, 10]
    expected = np.choose(scene_files.polygon_truth, [0, 1, 2, 10, 3])
    np.testing.assert_array_equal(got, expected)


def test_a_class_names_file_may_name_integer_values(scene_files, tmp_path):
    labels = _with_field(scene_files, tmp_path, [0, 1, 2, 3])
    names = tmp_path / "names.csv"
    names.write_text("5,0\n6,1\n7,2\n8,3\n")
    _, table = _prepare(scene_files, tmp_path / "s", labels, "code", class_names=names)
    assert table.ids == [5, 6, 7, 8] and table.names == ["0", "1", "2", "3"]


def test_a_field_without_any_possible_id_is_names(scene_files, tmp_path, caplog):
    labels = _with_field(scene_files, tmp_path, [0, -1, -2, -3])  # nothing to renumber: names
    with caplog.at_level("WARNING", logger="cfipt"):
        _, table = _prepare(scene_files, tmp_path / "s", labels, "code")
    assert table.names == ["-1", "-2", "-3", "0"] and "used as class names" in caplog.text


def test_a_geoparquet_label_file_is_read_as_a_vector_layer(scene_files, tmp_path):
    """The suffixes evaluate knew join prepare's (`io.vectors.VECTOR_SUFFIXES`): .parquet is a layer."""
    labels = tmp_path / "labels.parquet"
    labels.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"cannot read .*labels\.parquet as a vector layer"):
        _prepare(scene_files, tmp_path / "s", labels, "class")
    assert not (tmp_path / "s").exists()
