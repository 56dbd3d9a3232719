"""Maps and references on a plain pixel grid (no CRS, no geotransform: scenes prepared from .mat files)
and benchmark .mat label arrays as references: no rasterio NotGeoreferencedWarning noise, the same figures
as a GeoTIFF reference, and one-line errors for what cannot be evaluated."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
import scipy.io
from evaluate_builders import evaluate, perturb, shared_file, write_raster, write_scene, write_v73
from rasterio.errors import NotGeoreferencedWarning

from cfipt_cli.io.classes import ClassTable

PIXEL_GRID = {"crs": None, "transform": None}  # what prepare/predict write for .mat inputs


def labels_and_map(seed: int, shape: tuple[int, int] = (30, 45), n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, n + 1, shape).astype(np.uint8)  # 0 = unlabelled
    prediction = perturb(reference, n, 0.25, seed + 1)
    prediction[reference == 0] = rng.integers(1, n + 1, int((reference == 0).sum()))
    return reference, prediction


def georeference_warnings(caught: list[warnings.WarningMessage], err: str) -> list[str]:
    """The NotGeoreferencedWarning seen, whether logged on stderr (cfipt's logging) or recorded."""
    recorded = [str(w.message) for w in caught if issubclass(w.category, NotGeoreferencedWarning)]
    logged = [line for line in err.splitlines() if "geotransform" in line or "NotGeoreferenced" in line]
    return recorded + logged


def run_recording(run_cli, *args):
    """run_cli with every warning shown (no once-per-location filter hiding a repeat)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run_cli(*args)
    return code, out, err, caught


@pytest.fixture
def pixel_scene(tmp_path, table):
    """A pixel-grid scene folder and a pixel-grid map with class names, as prepare + predict write them."""
    labels = np.tile(np.arange(1, 6, dtype=np.uint8), (20, 4))
    train = np.where(np.arange(20)[:, None] < 5, labels, 0).astype(np.uint8)
    test = np.where(train > 0, 0, labels).astype(np.uint8)
    prediction = perturb(labels, 5, 0.2, 3)
    scene = write_scene(tmp_path / "scene", test, train, table, **PIXEL_GRID)
    map_path = write_raster(tmp_path / "map.tif", prediction, classes=table, **PIXEL_GRID)
    return scene, map_path, test, prediction


def test_pixel_grid_files_really_have_no_geotransform(pixel_scene):
    """The premise of the next tests: opening these files makes rasterio warn."""
    scene, map_path, _, _ = pixel_scene
    for path in (map_path, scene / "test_labels.tif"):
        with pytest.warns(NotGeoreferencedWarning), rasterio.open(path) as src:
            assert src.crs is None


def test_pixel_grid_map_against_scene_has_no_georeference_noise(run_cli, pixel_scene):
    scene, map_path, test, prediction = pixel_scene
    code, out, err, caught = run_recording(run_cli, "evaluate", map_path, "-r", scene, "--json")
    assert code == 0, err
    assert georeference_warnings(caught, err) == []
    assert err == ""  # names on both sides, one grid: nothing to warn about
    report = json.loads(out)
    valid = test > 0
    assert report["overall_accuracy"] == pytest.approx(np.mean(test[valid] == prediction[valid]), abs=1e-12)


def test_real_problems_stay_visible_on_a_pixel_grid(run_cli, tmp_path, table):
    """A georeferenced reference under a pixel-grid map: cfipt's own one-line error, no rasterio noise."""
    reference, prediction = labels_and_map(0)
    map_path = write_raster(tmp_path / "map.tif", prediction, classes=table, **PIXEL_GRID)
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    code, out, err, caught = run_recording(run_cli, "evaluate", map_path, "-r", tmp_path / "ref.tif")
    assert (code, out) == (1, "")
    assert err.startswith("cfipt: error:") and err.count("\n") == 1
    assert "different grids and one has no CRS" in err
    assert georeference_warnings(caught, err) == []


def test_pixel_grids_of_different_shapes_are_one_clear_error(run_cli, tmp_path):
    reference, prediction = labels_and_map(1)
    map_path = write_raster(tmp_path / "map.tif", prediction, **PIXEL_GRID)
    ref_path = write_raster(tmp_path / "half.tif", reference[:15, :20], **PIXEL_GRID)
    code, out, err, caught = run_recording(run_cli, "evaluate", map_path, "-r", ref_path)
    assert (code, out) == (1, "")
    assert err.startswith("cfipt: error:") and err.count("\n") == 1
    assert "(15 x 20 px) and the map (30 x 45 px) have no georeference and different shapes" in err
    assert georeference_warnings(caught, err) == []


def write_mat(path, arrays, version):
    if version == "v5":
        scipy.io.savemat(path, arrays)
    else:
        write_v73(path, arrays)
    return path


@pytest.mark.parametrize("version", ["v5", "v7.3"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])  # MATLAB often stores labels as double
def test_mat_reference_gives_the_figures_of_the_same_labels_as_geotiff(tmp_path, table, version, dtype):
    reference, prediction = labels_and_map(7)
    map_path = write_raster(tmp_path / "map.tif", prediction, classes=table, **PIXEL_GRID)
    tif_ref = write_raster(tmp_path / "ref.tif", reference, **PIXEL_GRID)  # no names either
    mat_ref = write_mat(tmp_path / "ref_gt.mat", {"ref_gt": reference.astype(dtype)}, version)
    from_tif = evaluate(map_path, tif_ref, block_size=16).to_json()
    from_mat = evaluate(map_path, mat_ref, block_size=16).to_json()
    assert from_mat["reference"] == {"path": str(mat_ref), "kind": "mat", "field": None, "mat_key": "ref_gt"}
    for key in ("overall_accuracy", "average_accuracy", "kappa", "confusion_matrix", "classes", "pixels"):
        assert from_mat[key] == from_tif[key], key
    assert from_mat["class_matching"] == "id"
    assert [c["name"] for c in from_mat["classes"]] == list(table.names)  # the map's names, by id
    assert from_mat["warnings"] == ["the reference has no class names; classes are matched by id"]
    valid = reference > 0
    assert from_mat["overall_accuracy"] == pytest.approx(np.mean(reference[valid] == prediction[valid]))


def test_mat_reference_under_a_georeferenced_map_of_its_shape_warns(tmp_path, table):
    reference, prediction = labels_and_map(8)
    map_path = write_raster(tmp_path / "map.tif", prediction, classes=table)  # UTM
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": reference})
    result = evaluate(map_path, tmp_path / "gt.mat")
    assert any("has no georeference; assuming it is on the map's pixel grid" in w for w in result.warnings)
    valid = reference > 0
    assert result.metrics.overall_accuracy == pytest.approx(np.mean(reference[valid] == prediction[valid]))


def test_mat_key_chooses_among_several_arrays(run_cli, tmp_path):
    reference, prediction = labels_and_map(9)
    map_path = write_raster(tmp_path / "map.tif", prediction, **PIXEL_GRID)
    other = np.zeros_like(reference)
    other[0, 0] = 1
    scipy.io.savemat(tmp_path / "labels.mat", {"TRLabel": other, "TSLabel": reference})
    code, _, err = run_cli("evaluate", map_path, "-r", tmp_path / "labels.mat")
    assert code == 1 and "choose one with --mat-key" in err and err.count("\n") == 1
    code, out, _ = run_cli(
        "evaluate",
        map_path,
        "-r",
        tmp_path / "labels.mat",
        "--mat-key",
        "Nope",
        "--mat-key",
        "TSLabel",
        "--json",
    )
    report = json.loads(out)
    valid = reference > 0
    assert code == 0 and report["reference"]["mat_key"] == "TSLabel"
    assert report["pixels"]["evaluated"] == int(valid.sum())
    code, _, err = run_cli("evaluate", map_path, "-r", tmp_path / "labels.mat", "--mat-key", "Nope")
    assert code == 1 and err.count("\n") == 1 and "TRLabel (30, 45), TSLabel (30, 45)" in err
    # One array and a --mat-key it does not hold: an error too, never another variable in silence.
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": reference, "info": np.arange(3.0)})
    code, _, err = run_cli("evaluate", map_path, "-r", tmp_path / "gt.mat", "--mat-key", "Nope")
    assert code == 1 and err.count("\n") == 1
    assert "has no variable 'Nope' (--mat-key); its variables: gt, info" in err


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.ones((12, 20), np.uint8), "is 12 x 20 px but the map is 30 x 45 px"),
        (np.ones((45, 30), np.uint8), "is 45 x 30 px but the map is 30 x 45 px"),  # transposed
        (np.ones((30, 45, 3), np.uint8), "is a 30 x 45 x 3 cube, not a 2-D label array"),
        (np.full((30, 45), 1.5), "non-integer values"),
    ],
)
def test_mat_reference_that_does_not_fit_is_one_line_exit_1(run_cli, tmp_path, array, words):
    _, prediction = labels_and_map(10)
    map_path = write_raster(tmp_path / "map.tif", prediction, **PIXEL_GRID)
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": array})
    code, out, err = run_cli("evaluate", map_path, "-r", tmp_path / "gt.mat")
    assert (code, out) == (1, "")
    assert err.startswith("cfipt: error: reference") and words in err and err.count("\n") == 1


def test_mat_options_are_usage_errors_elsewhere(run_cli, tmp_path):
    reference, prediction = labels_and_map(11)
    map_path = write_raster(tmp_path / "map.tif", prediction, **PIXEL_GRID)
    ref_tif = write_raster(tmp_path / "ref.tif", reference, **PIXEL_GRID)
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": reference})
    for args, words in (
        ([map_path, "-r", ref_tif, "--mat-key", "gt"], "--mat-key applies to .mat references only"),
        ([map_path, "-r", tmp_path / "gt.mat", "--field", "x"], "--field applies to vector references only"),
        (["--summary", tmp_path / "r.json", "--mat-key", "gt"], "drop --mat-key"),
    ):
        code, out, err = run_cli("evaluate", *args)
        assert (code, out) == (2, "") and words in err


def test_missing_mat_reference_is_exit_1(run_cli, tmp_path):
    _, prediction = labels_and_map(12)
    map_path = write_raster(tmp_path / "map.tif", prediction, **PIXEL_GRID)
    code, _, err = run_cli("evaluate", map_path, "-r", tmp_path / "absent.mat")
    assert code == 1 and "does not exist" in err


def test_real_trento_ground_truth_as_reference(run_cli, tmp_path):
    gt_path = shared_file("trento", "Trento_gt.mat")
    truth = scipy.io.loadmat(gt_path)["Trento_gt"]
    assert truth.shape == (166, 600)
    prediction = perturb(truth.astype(np.uint8), 6, 0.12, 2024)
    trento = ClassTable.from_names(["Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"])
    map_path = write_raster(tmp_path / "map.tif", prediction, classes=trento, **PIXEL_GRID)
    code, out, err, caught = run_recording(run_cli, "evaluate", map_path, "-r", gt_path, "--json")
    assert code == 0, err
    assert georeference_warnings(caught, err) == []
    assert err == "cfipt: WARNING: the reference has no class names; classes are matched by id\n"
    report = json.loads(out)
    valid = truth > 0
    assert report["pixels"]["evaluated"] == int(valid.sum()) == 30214
    assert report["overall_accuracy"] == pytest.approx(np.mean(truth[valid] == prediction[valid]), abs=1e-12)
    assert 0.8 < report["overall_accuracy"] < 0.95  # 12 % flipped: not a trivial map
    assert [c["name"] for c in report["classes"]] == list(trento.names)
    per_class = np.bincount(truth[valid], minlength=7)[1:]
    assert [c["reference_pixels"] for c in report["classes"]] == per_class.tolist()
