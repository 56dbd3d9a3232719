"""Labels from several files: union by class name, conflicts refused, empty classes left out, `all`."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from prepared_labels import label_rasters, prepare_labelled

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.output_kinds import SUGGESTIONS_FORMAT


@pytest.fixture
def halves(scene_files, tmp_path):
    """The polygons split in two layers: every other feature; the second holds only some classes."""
    frame = gpd.read_file(scene_files.polygons)
    first, second = frame.iloc[::2], frame.iloc[1::2]
    second = second[second["class"].isin(sorted(set(second["class"]))[:2])]  # a subset of the names
    paths = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    first.to_file(paths[0])
    second.to_file(paths[1])
    return frame, first, second, paths


def _all_labels(scene):
    train, test = label_rasters(scene)
    assert not np.any((train > 0) & (test > 0))
    return train + test


def test_two_files_are_the_union_with_names_matched_across_them(scene_files, halves, tmp_path):
    frame, first, second, paths = halves
    kept = gpd.GeoDataFrame(
        gpd.pd.concat([first, second]), crs=frame.crs
    )  # what the two files label together
    kept.to_file(tmp_path / "union.gpkg")
    merged = prepare_labelled(scene_files, tmp_path / "m", list(paths), "class")
    single = prepare_labelled(scene_files, tmp_path / "u", tmp_path / "union.gpkg", "class")
    assert merged.classes.names == single.classes.names == sorted(set(frame["class"]))
    np.testing.assert_array_equal(_all_labels(merged), _all_labels(single))
    assert merged.meta["counts"] == single.meta["counts"]
    # the second file alone would number its 2 names 1, 2: matched by name they keep the union's ids
    assert set(np.unique(_all_labels(prepare_labelled(scene_files, tmp_path / "b", paths[1], "class")))) == {
        0,
        1,
        2,
    }
    labelled_b = _all_labels(prepare_labelled(scene_files, tmp_path / "b2", paths[1], "class")) > 0
    expected_ids = {merged.classes.id_of(n) for n in set(second["class"])}
    assert set(np.unique(_all_labels(merged)[labelled_b]).tolist()) == expected_ids


def test_scene_json_records_every_labels_file(scene_files, halves, tmp_path):
    _, _, second, paths = halves
    second.rename(columns={"class": "landcover"}).to_file(tmp_path / "renamed.gpkg")
    files = [paths[0], tmp_path / "renamed.gpkg"]
    scene = prepare_labelled(scene_files, tmp_path / "s", files, ["class", "landcover"])
    labels = [s for s in scene.meta["sources"] if s["role"] == "labels"]
    assert [(s["path"], s["sha256"], s["field"]) for s in labels] == [
        (str(p.resolve()), sha256_file(p), f) for p, f in zip(files, ["class", "landcover"], strict=True)
    ]
    assert Scene.open(tmp_path / "s").classes.names == scene.classes.names


def test_label_field_count_and_missing_field(scene_files, halves, tmp_path):
    _, _, _, paths = halves
    with pytest.raises(CfiptUsageError, match="3 --label-field given for 2 vector"):
        prepare_labelled(scene_files, tmp_path / "s", list(paths), ["class", "class", "class"])
    with pytest.raises(DataError, match=r"'kind' is not in b\.gpkg; fields: class, class_id"):
        prepare_labelled(scene_files, tmp_path / "s", list(paths), ["class", "kind"])
    assert not (tmp_path / "s").exists()


def test_a_pixel_with_two_classes_is_refused_naming_both_files(scene_files, halves, tmp_path):
    frame, first, _, paths = halves
    clash = first.iloc[:1].copy()
    other = sorted(set(frame["class"]) - {clash["class"].iloc[0]})[0]
    clash["class"] = other
    twice = first.iloc[1:2]  # the same class twice counts once
    gpd.GeoDataFrame(gpd.pd.concat([clash, twice]), crs=frame.crs).to_file(tmp_path / "clash.gpkg")
    with pytest.raises(
        DataError, match=r"a\.gpkg and clash\.gpkg label 64 valid pixel\(s\) with different classes"
    ):
        prepare_labelled(scene_files, tmp_path / "s", [paths[0], tmp_path / "clash.gpkg"], "class")
    assert not (tmp_path / "s").exists()
    twice.to_file(tmp_path / "twice.gpkg")
    scene = prepare_labelled(scene_files, tmp_path / "ok", [paths[0], tmp_path / "twice.gpkg"], "class")
    alone = prepare_labelled(scene_files, tmp_path / "alone", paths[0], "class")
    assert scene.meta["counts"] == alone.meta["counts"]


def test_unfilled_suggestions_are_left_out_with_a_warning(scene_files, halves, tmp_path, caplog):
    _, first, second, paths = halves
    filled = second.copy()
    filled["class"] = filled["class"].astype(object)
    blanks = filled.iloc[:3].copy()
    blanks["class"] = [None, "", "   "]
    gpd.GeoDataFrame(gpd.pd.concat([filled.iloc[3:], blanks]), crs=second.crs).to_file(tmp_path / "sug.gpkg")
    scene = prepare_labelled(scene_files, tmp_path / "s", [paths[0], tmp_path / "sug.gpkg"], "class")
    assert any(
        "sug.gpkg: 3 features without geometry or with an empty class value" in r.getMessage()
        for r in caplog.records
    )
    reference = gpd.GeoDataFrame(gpd.pd.concat([first, second.iloc[3:]]), crs=second.crs)
    reference.to_file(tmp_path / "ref.gpkg")
    expected = prepare_labelled(scene_files, tmp_path / "r", tmp_path / "ref.gpkg", "class")
    np.testing.assert_array_equal(_all_labels(scene), _all_labels(expected))
    blanks.to_file(tmp_path / "empty.gpkg")
    with pytest.raises(DataError, match=r"empty\.gpkg holds no feature with a geometry and a 'class' value"):
        prepare_labelled(scene_files, tmp_path / "e", [paths[0], tmp_path / "empty.gpkg"], "class")


def test_a_suggestions_file_read_by_another_field_than_its_label_field_is_refused(
    scene_files, halves, tmp_path
):
    _, _, second, paths = halves
    points = second.copy()
    points["map_class"] = points["class"].iloc[::-1].to_numpy()  # the model's guesses, every point
    points.to_file(tmp_path / "suggestions.gpkg")
    record = {"format": SUGGESTIONS_FORMAT, "format_version": 1, "label_field": "class"}
    (tmp_path / "suggestions.gpkg.suggest.json").write_text(json.dumps(record))
    files = [paths[0], tmp_path / "suggestions.gpkg"]
    with pytest.raises(
        CfiptUsageError,
        match=r"suggestions\.gpkg is a cfipt suggest output: its labels are in the field 'class'; "
        r"'map_class' holds the model's predictions",
    ):
        prepare_labelled(scene_files, tmp_path / "s", files, ["class", "map_class"])
    assert not (tmp_path / "s").exists()
    with pytest.raises(CfiptUsageError, match="'class_id' is not it"):
        prepare_labelled(scene_files, tmp_path / "s", files, ["class", "class_id"])
    scene = prepare_labelled(scene_files, tmp_path / "s", files, "class")  # the recorded field: read
    assert sum(scene.meta["counts"]["train"].values()) > 0


def test_a_class_only_a_later_file_names_is_warned_about_as_a_new_class(
    scene_files, halves, tmp_path, caplog
):
    _, _, second, paths = halves
    name = sorted(set(second["class"]))[0]
    typed = second.iloc[:2].copy()
    typed["class"] = [name[:-1], "Zzyzx"]  # a typo of an existing name, and an unlike new name
    typed.to_file(tmp_path / "typed.gpkg")
    scene = prepare_labelled(scene_files, tmp_path / "s", [paths[0], tmp_path / "typed.gpkg"], "class")
    counts = scene.meta["counts"]
    pixels = {n: counts["train"][str(scene.classes.id_of(n))] + counts["test"][str(scene.classes.id_of(n))]
              for n in (name[:-1], "Zzyzx")}  # fmt: skip
    messages = [r.getMessage() for r in caplog.records if "is a new class" in r.getMessage()]
    typo = (
        f"{name[:-1]!r} ({pixels[name[:-1]]} pixels, only in typed.gpkg) is a new class; a typo of {name!r}?"
    )
    unlike = (
        f"'Zzyzx' ({pixels['Zzyzx']} pixels, only in typed.gpkg) is a new class; no other label file names it"
    )
    assert messages == [typo, unlike]  # in id order: new names take the next free ids in sorted order
    caplog.clear()  # the second file naming a subset of the first's classes: nothing new
    prepare_labelled(scene_files, tmp_path / "m", list(paths), "class")
    assert not any("is a new class" in r.getMessage() for r in caplog.records)


def test_one_file_naming_two_classes_alike_is_refused(scene_files, halves, tmp_path):
    """Across files names match ignoring case; inside one file `water` and `Water` are ambiguous."""
    _, first, _, paths = halves
    alike = first.iloc[:2].copy()
    alike["class"] = ["water", "Water"]
    alike.to_file(tmp_path / "alike.gpkg")
    with pytest.raises(
        DataError,
        match=r"alike\.gpkg names both 'Water' and 'water'",
    ):
        prepare_labelled(scene_files, tmp_path / "s", [paths[0], tmp_path / "alike.gpkg"], "class")
    assert not (tmp_path / "s").exists()


def test_a_label_raster_and_a_vector_layer_mix_by_name(scene_files, halves, tmp_path):
    frame, _, second, _ = halves
    names = sorted(set(frame["class"]))
    raster = scene_files.label_raster  # ids 1..4 of scene_files.class_names, only some cells labelled
    aux = raster.parent / (raster.name + ".aux.xml")
    try:
        with pytest.raises(DataError, match="give --class-names"):  # the raster's ids carry no names
            prepare_labelled(scene_files, tmp_path / "x", [raster, tmp_path / "b.gpkg"], "class")
        ClassTable.from_names(scene_files.class_names).write_aux_xml(raster)
        scene = prepare_labelled(scene_files, tmp_path / "s", [raster, tmp_path / "b.gpkg"], "class")
    finally:
        aux.unlink(missing_ok=True)
    labels = _all_labels(scene)
    assert scene.classes.names == scene_files.class_names  # the raster's ids and names
    vector_only = prepare_labelled(scene_files, tmp_path / "v", tmp_path / "b.gpkg", "class")
    vector_labels = _all_labels(vector_only)
    for name in set(second["class"]):  # the vector's names land on the raster's ids of those names
        on = vector_labels == vector_only.classes.id_of(name)
        assert on.any() and np.all(labels[on] == scene.classes.id_of(name))
    union = (scene_files.polygon_truth > 0) | (vector_labels > 0)
    np.testing.assert_array_equal(labels > 0, union)
    assert names == sorted(scene_files.class_names)


def test_train_per_class_all_trains_every_pixel_and_tests_on_the_test_labels(scene_files, halves, tmp_path):
    _, _, _, paths = halves
    scene = prepare_labelled(
        scene_files, tmp_path / "s", [paths[0]], "class", train_per_class="all", test_labels=paths[1]
    )
    train, test = label_rasters(scene)
    alone_a = _all_labels(prepare_labelled(scene_files, tmp_path / "a", paths[0], "class"))
    alone_b = _all_labels(prepare_labelled(scene_files, tmp_path / "b", paths[1], "class"))
    np.testing.assert_array_equal(train > 0, alone_a > 0)  # every labelled pixel of --labels trains
    np.testing.assert_array_equal(test > 0, (alone_b > 0) & (alone_a == 0))
    assert scene.meta["split"]["train_per_class"] == "all"
    assert json.loads((tmp_path / "s" / "scene.json").read_text())["split"]["train_per_class"] == "all"


def test_train_per_class_all_without_test_labels_warns(scene_files, halves, tmp_path, caplog):
    _, _, _, paths = halves
    scene = prepare_labelled(scene_files, tmp_path / "s", list(paths), "class", train_per_class="all")
    assert any("the scene has no test pixels" in r.getMessage() for r in caplog.records)
    assert sum(scene.meta["counts"]["test"].values()) == 0
    with pytest.raises(CfiptUsageError, match="'all'"):
        prepare_labelled(scene_files, tmp_path / "x", list(paths), "class", train_per_class=0)


def test_cli_takes_repeated_labels_and_all(scene_files, halves, tmp_path, run_cli):
    _, _, _, paths = halves
    argv = ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", tmp_path / "c"]
    argv += ["--labels", paths[0], "--label-field", "class", "--test-labels", paths[1]]
    code, stdout, _ = run_cli([*argv, "--train-per-class", "all", "--json"])
    assert code == 0
    summary = json.loads(stdout)
    train, test = label_rasters(Scene.open(tmp_path / "c"))
    assert summary["train_pixels"] == int((train > 0).sum()) and summary["test_pixels"] == int(
        (test > 0).sum()
    )
    assert summary["test_pixels"] > 0 and summary["train_per_class"] == "all"
    code, _, stderr = run_cli([*argv, "--train-per-class", "all", "--overwrite"])  # the table on stderr
    assert code == 0 and "every labelled pixel trains; test pixels from --test-labels" in stderr
    assert "seed" not in stderr
    code, _, stderr = run_cli([*argv, "--train-per-class", "some"])
    assert code == 2 and "--train-per-class 'some'" in stderr


def test_cli_refuses_test_labels_that_all_train(scene_files, halves, tmp_path, run_cli):
    """The loop's slip: the original labels again with --train-per-class all, so every test pixel trains."""
    _, _, _, paths = halves
    argv = ["prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", tmp_path / "c"]
    argv += ["--labels", paths[0], "--labels", paths[1], "--label-field", "class", "--test-labels", paths[1]]
    before = sorted(tmp_path.iterdir())
    code, stdout, stderr = run_cli([*argv, "--train-per-class", "all"])
    assert code == 1 and not stdout
    assert "every pixel of --test-labels" in stderr and "pass the scene's train_labels.tif" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert sorted(tmp_path.iterdir()) == before  # nothing written, not even a temporary folder
