"""`cfipt suggest` end to end on a tiny scene with a tiny random CF-IPT model: eligible, spread,
uncertain, the rasters of an earlier predict reused, the points where QGIS expects them, bad input."""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine

from cfipt_cli.cli.app import main
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.contracts.suggestions import POINT_FIELDS
from cfipt_cli.errors import CfiptUsageError, CheckpointError, DataError, OutputExistsError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.predict.settings import PredictSettings
from cfipt_cli.suggest.pipeline import run_suggest
from cfipt_cli.suggest.request import EarlierPrediction, SuggestRequest
from cfipt_cli.testing.model_folder import write_untrained_model
from cfipt_cli.testing.qgis_probe import has_qgis, qgis_points
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene

pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")
TRANSFORM = Affine(3.0, 0.0, 600000.0, 0.0, -3.0, 5000000.0)
CLASSES = [{"id": 3, "name": "Water"}, {"id": 5, "name": "Trees"}, {"id": 8, "name": "Roads"}]


def _run(argv: list) -> int:
    with pytest.raises(SystemExit) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random backbone warns, by design
        main([str(a) for a in argv])
    return int(info.value.code or 0)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("suggest")
    rng = np.random.default_rng(4)
    h, w = 24, 30
    stack = (rng.normal(size=(5, h, w)) * 3 + 10).astype(np.float32)
    valid = rng.random((h, w)) > 0.1
    stack[:, ~valid] = np.nan
    truth = np.where(valid, rng.integers(0, 3, (h, w)), -1)
    ids = np.array([3, 5, 8])
    draw = rng.random((h, w))
    train = np.where(valid & (draw < 0.1), ids[truth], 0).astype(np.uint8)
    test = np.where(valid & (draw > 0.8), ids[truth], 0).astype(np.uint8)
    classes = ClassTable.from_json(CLASSES)
    hand = HandBuiltScene(
        stack, ["hsi"] * 4 + ["lidar"], classes, "EPSG:32633", TRANSFORM, valid, (train, test)
    )
    scene = write_test_scene(root / "scene", hand)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = write_untrained_model(
            root / "model",
            Scene.open(scene),
            {"clip_model": "cfipt-tiny", "n_prompt": 2, "depth": 2, "patch_size": 5},
        )
    maps = root / "predicted"
    maps.mkdir()
    argv = ["predict", scene, "--model", model, "--device", "cpu", "--block-size", "8", "-q"]
    assert (
        _run(
            [
                *argv,
                "--out",
                maps / "map.tif",
                "--proba",
                maps / "proba.tif",
                "--uncertainty",
                maps / "unc.tif",
            ]
        )
        == 0
    )
    return root, scene, model, maps


def _request(folders, out: Path, **options) -> SuggestRequest:
    _, scene, model, _ = folders
    # the blocks (and so the batches) of the predict above: the model's results are then bit-identical
    settings = PredictSettings(block_size=8)
    return SuggestRequest(scene, model, out, options.pop("n", 12), device="cpu", settings=settings, **options)


def test_suggestions_are_eligible_spread_and_uncertain(folders, tmp_path):
    _, scene, _, maps = folders
    summary = run_suggest(_request(folders, tmp_path / "s.gpkg", min_distance=3))
    points = gpd.read_file(tmp_path / "s.gpkg")
    rows, cols = points["row"].to_numpy(), points["col"].to_numpy()
    train, test = _read(scene / "train_labels.tif")[0], _read(scene / "test_labels.tif")[0]
    valid = _read(scene / "mask.tif")[0] == 1
    assert len(points) == 12 == summary["suggested"]
    assert (train[rows, cols] == 0).all() and (test[rows, cols] == 0).all() and valid[rows, cols].all()
    gaps = np.maximum(np.abs(rows[:, None] - rows[None]), np.abs(cols[:, None] - cols[None]))
    assert (gaps[~np.eye(len(rows), dtype=bool)] >= 3).all()
    unc = _read(maps / "unc.tif")[0]  # the same model's entropy, from predict
    np.testing.assert_allclose(points["uncertainty"], unc[rows, cols], atol=1e-6)
    eligible = valid & (train == 0) & (test == 0)
    assert points["uncertainty"].iloc[0] == pytest.approx(unc[eligible].max())
    assert points["uncertainty"].mean() > np.mean(unc[eligible])
    assert list(points["rank"]) == list(range(1, 13)) and (np.diff(points["uncertainty"]) <= 0).all()
    mapped = _read(maps / "map.tif")[0]
    names = {c["id"]: c["name"] for c in CLASSES}
    assert list(points["map_class"]) == [names[int(i)] for i in mapped[rows, cols]]
    assert set(points["map_class"]) == set(names[int(i)] for i in np.unique(mapped[eligible]))  # every class
    xs, ys = TRANSFORM * (cols + 0.5, rows + 0.5)
    np.testing.assert_allclose(points.geometry.x, xs) and np.testing.assert_allclose(points.geometry.y, ys)
    assert points.crs.to_epsg() == 32633
    assert (points["class"] == "").all()  # the empty field to fill in
    assert [c for c in points.columns if c != "geometry"] == [*POINT_FIELDS, "class"]  # the contract
    style = (tmp_path / "s.qml").read_text()
    assert 'name="class"' in style and 'attr="map_class"' in style and "Trees" in style


def test_the_rasters_of_an_earlier_predict_give_the_same_suggestions(folders, tmp_path):
    _, _, _, maps = folders
    ran = gpd.read_file(tmp_path / "a.gpkg") if run_suggest(_request(folders, tmp_path / "a.gpkg")) else None
    run_suggest(_request(folders, tmp_path / "b.gpkg", earlier=EarlierPrediction(proba=maps / "proba.tif")))
    run_suggest(
        _request(
            folders,
            tmp_path / "c.gpkg",
            earlier=EarlierPrediction(map_path=maps / "map.tif", uncertainty=maps / "unc.tif"),
        )
    )
    from_proba, from_map = gpd.read_file(tmp_path / "b.gpkg"), gpd.read_file(tmp_path / "c.gpkg")
    for other in (from_proba, from_map):
        assert list(other["row"]) == list(ran["row"]) and list(other["col"]) == list(ran["col"])
        assert list(other["map_class"]) == list(ran["map_class"])
    np.testing.assert_array_equal(from_proba["probability"], ran["probability"])
    assert from_map["probability"].isna().all()  # a map and an uncertainty raster hold no probability


def test_a_validation_sample_is_never_suggested(folders, tmp_path):
    first = (
        gpd.read_file(tmp_path / "x.gpkg") if run_suggest(_request(folders, tmp_path / "x.gpkg")) else None
    )
    first.iloc[:4][["geometry"]].to_file(tmp_path / "sample.gpkg")
    run_suggest(_request(folders, tmp_path / "y.gpkg", exclude_samples=(tmp_path / "sample.gpkg",)))
    second = gpd.read_file(tmp_path / "y.gpkg")
    taken = set(zip(first["row"].iloc[:4], first["col"].iloc[:4], strict=True))
    assert not taken & set(zip(second["row"], second["col"], strict=True))


def test_more_than_the_eligible_pixels_is_refused_with_their_number(folders, tmp_path):
    _, scene, _, _ = folders
    valid = _read(scene / "mask.tif")[0] == 1
    labelled = (_read(scene / "train_labels.tif")[0] > 0) | (_read(scene / "test_labels.tif")[0] > 0)
    eligible = int((valid & ~labelled).sum())
    with pytest.raises(DataError, match=f"more than the {eligible} eligible pixels"):
        run_suggest(_request(folders, tmp_path / "s.gpkg", n=eligible + 1))
    assert list(tmp_path.iterdir()) == []


def test_a_model_of_other_bands_is_refused(folders, tmp_path):
    _, scene, _, _ = folders
    meta = Scene.open(scene)
    other = write_untrained_model(
        tmp_path / "m2",
        meta,
        {"clip_model": "cfipt-tiny", "n_prompt": 2, "depth": 2, "patch_size": 5},
    )
    import json

    doc = json.loads((other / "model.json").read_text())
    doc["band_layout"] = ["hsi"] * 4 + ["sar"]
    doc["band_roles"] = {"hsi": 4, "aux": 1, "lidar": 0, "sar": 1}
    (other / "model.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="was trained on 4 hsi \\+ 1 sar bands but scene"):
        run_suggest(SuggestRequest(scene, other, tmp_path / "s.gpkg", 5, device="cpu"))
    assert not (tmp_path / "s.gpkg").exists()


def test_bad_options_are_one_line_usage_errors(folders, tmp_path):
    _, scene, model, maps = folders
    with pytest.raises(CfiptUsageError, match="-n must be at least 1"):
        SuggestRequest(scene, model, tmp_path / "s.gpkg", 0)
    with pytest.raises(CfiptUsageError, match="--uncertainty-measure must be one of entropy, margin, least"):
        SuggestRequest(scene, model, tmp_path / "s.gpkg", 5, measure="variance")
    with pytest.raises(CfiptUsageError, match="--uncertainty needs --map"):
        EarlierPrediction(uncertainty=maps / "unc.tif")
    with pytest.raises(CfiptUsageError, match="holds the entropy measure, not margin"):
        run_suggest(
            _request(
                folders,
                tmp_path / "s.gpkg",
                measure="margin",
                earlier=EarlierPrediction(map_path=maps / "map.tif", uncertainty=maps / "unc.tif"),
            )
        )
    assert _run(["suggest", scene, "--model", model, "--out", tmp_path / "s.gpkg", "-n", "0"]) == 2
    assert not (tmp_path / "s.gpkg").exists()


def test_cli_writes_points_record_and_style_and_overwrite_replaces_only_its_own(folders, tmp_path):
    _, scene, model, _ = folders
    out = tmp_path / "s.gpkg"
    argv = ["suggest", scene, "--model", model, "--out", out, "-n", 6, "--device", "cpu", "-q"]
    assert _run(argv) == 0
    assert out.exists() and (tmp_path / "s.gpkg.suggest.json").exists() and (tmp_path / "s.qml").exists()
    assert _run(argv) == 1  # exists: refused without --overwrite
    assert _run([*argv, "--overwrite"]) == 0
    foreign = tmp_path / "f.gpkg"
    gpd.read_file(out).to_file(foreign)  # a user's own file of points, no record
    before = foreign.read_bytes()
    mine = ["suggest", scene, "--model", model, "--out", foreign, "-n", 6, "--device", "cpu", "--overwrite"]
    assert _run(mine) == 1
    assert foreign.read_bytes() == before and not (tmp_path / "f.gpkg.suggest.json").exists()


@pytest.mark.skipif(not has_qgis(), reason="no QGIS for /usr/bin/python3 (CI has none)")
def test_suggestions_open_in_qgis_coloured_by_class_with_a_drop_down_to_label(folders, tmp_path):
    run_suggest(_request(folders, tmp_path / "s.gpkg", n=9))
    shown = qgis_points(tmp_path / "s.gpkg", "class")
    assert shown["valid"] and shown["features"] == 9
    assert shown["type"] == "categorizedSymbol" and shown["attribute"] == "map_class"
    table = ClassTable.from_json(CLASSES)
    assert [c[:2] for c in shown["categories"]] == [[c.name, c.name] for c in table]
    assert [c[2] for c in shown["categories"]] == ["#{:02x}{:02x}{:02x}".format(*c.colour) for c in table]
    assert shown["editor"] == "ValueMap" and shown["choices"] == table.names


def test_rasters_of_another_model_are_refused(folders, tmp_path):
    _, scene, _, maps = folders
    other = write_untrained_model(
        tmp_path / "other",
        Scene.open(scene),
        {"clip_model": "cfipt-tiny", "n_prompt": 2, "depth": 2, "patch_size": 5},
        seed=9,
    )
    with rasterio.open(maps / "map.tif") as src:
        assert len(src.tags()["CFIPT_MODEL_SHA256"]) == 64  # predict says which weights made it
    earlier = EarlierPrediction(map_path=maps / "map.tif", uncertainty=maps / "unc.tif")
    with pytest.raises(DataError, match="was predicted by another model than --model"):
        run_suggest(SuggestRequest(scene, other, tmp_path / "s.gpkg", 5, earlier=earlier, device="cpu"))
    with pytest.raises(DataError, match="was predicted by another model"):
        run_suggest(
            SuggestRequest(
                scene, other, tmp_path / "s.gpkg", 5, earlier=EarlierPrediction(proba=maps / "proba.tif")
            )
        )
    assert not (tmp_path / "s.gpkg").exists()


def test_a_scene_of_other_class_names_than_the_models_is_warned_about(folders, tmp_path, caplog):
    _, scene, model, _ = folders
    renamed = tmp_path / "scene"
    shutil.copytree(scene, renamed)
    meta = json.loads((renamed / "scene.json").read_text())
    meta["classes"][0]["name"] = "Lakes"
    (renamed / "scene.json").write_text(json.dumps(meta))
    logging.getLogger("cfipt").propagate = True
    with caplog.at_level(logging.WARNING, logger="cfipt"):
        run_suggest(SuggestRequest(renamed, model, tmp_path / "s.gpkg", 3, device="cpu"))
    assert "are not the model's" in caplog.text and "Lakes" in caplog.text


def test_rasters_of_a_predict_of_some_pixels_only_are_refused(folders, tmp_path):
    _, scene, model, _ = folders
    argv = [
        "predict",
        scene,
        "--model",
        model,
        "--device",
        "cpu",
        "--block-size",
        "8",
        "-q",
        "--pixels",
        "test",
    ]
    assert _run([*argv, "--out", tmp_path / "t.tif", "--proba", tmp_path / "tp.tif"]) == 0
    with pytest.raises(DataError, match="holds only the scene's test pixels"):
        run_suggest(
            _request(folders, tmp_path / "s.gpkg", earlier=EarlierPrediction(proba=tmp_path / "tp.tif"))
        )


def test_a_map_of_ids_the_model_has_not_is_refused(folders, tmp_path):
    _, _, _, maps = folders
    with rasterio.open(maps / "map.tif") as src:
        profile, ids = src.profile, src.read(1)
    profile.pop("nodata", None)
    ids[ids > 0] = 99
    with rasterio.open(tmp_path / "other.tif", "w", **profile) as dst:  # no tags: taken on trust
        dst.write(ids, 1)
    earlier = EarlierPrediction(map_path=tmp_path / "other.tif", uncertainty=maps / "unc.tif")
    with pytest.raises(DataError, match="holds class id 99, which the model has not"):
        run_suggest(_request(folders, tmp_path / "s.gpkg", earlier=earlier))


def test_an_output_format_that_cannot_be_written_is_a_usage_error_before_any_work(folders, tmp_path):
    _, scene, model, _ = folders
    with pytest.raises(CfiptUsageError, match=r"suggest writes \.gpkg, \.geojson, \.fgb files"):
        SuggestRequest(scene, model, tmp_path / "s.shp", 5)


def test_sample_points_outside_the_scene_are_warned_about(folders, tmp_path, caplog):
    first = (
        gpd.read_file(tmp_path / "x.gpkg")
        if run_suggest(_request(folders, tmp_path / "x.gpkg", n=3))
        else None
    )
    far = first.copy()
    far["geometry"] = far.geometry.translate(xoff=1e5)  # another area
    far[["geometry"]].to_file(tmp_path / "far.gpkg")
    logging.getLogger("cfipt").propagate = True
    with caplog.at_level(logging.WARNING, logger="cfipt"):
        run_suggest(_request(folders, tmp_path / "y.gpkg", n=3, exclude_samples=(tmp_path / "far.gpkg",)))
    assert "3 of the 3 points of" in caplog.text and "lie outside the scene" in caplog.text


def test_a_failed_rename_of_the_points_leaves_no_record_or_style(folders, tmp_path, monkeypatch):
    """Another file appears at --out while the points are written: the run fails, and no record or
    style of it is left beside that file (the record would make the stranger's file look like cfipt's)."""
    import cfipt_cli.suggest.writing as writing

    out = tmp_path / "s.gpkg"
    real = writing.write_layer

    def racing(frame, path, layer, driver):
        real(frame, path, layer, driver)
        out.write_bytes(b"somebody else's file")

    monkeypatch.setattr(writing, "write_layer", racing)
    with pytest.raises(OutputExistsError):
        run_suggest(_request(folders, out, n=3))
    assert out.read_bytes() == b"somebody else's file"
    assert not (tmp_path / "s.gpkg.suggest.json").exists() and not (tmp_path / "s.qml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.gpkg"]
