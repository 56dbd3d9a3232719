"""evaluate_map on files: sklearn agreement on random and real (Houston 2013) maps, references of every
kind, grids that differ, class matching by name, nodata and the errors a user can meet."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from evaluate_builders import GRID_TRANSFORM, UTM, evaluate, perturb, shared_file, write_raster, write_scene
from rasterio.warp import transform, transform_bounds
from sklearn import metrics as sk

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.classes import ClassInfo, ClassTable, default_colour, load_class_table

HOUSTON_NAMES = [
    "Healthy grass", "Stressed grass", "Synthetic grass", "Trees", "Soil", "Water", "Residential",
    "Commercial", "Road", "Highway", "Railway", "Parking lot 1", "Parking lot 2", "Tennis court",
    "Running track",
]  # fmt: skip


def assert_matches_sklearn(report: dict, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Every figure of a JSON report against scikit-learn on the same pixels."""
    labels = report["confusion_matrix"]["labels"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(
            report["confusion_matrix"]["matrix"], sk.confusion_matrix(y_true, y_pred, labels=labels)
        )
        assert report["overall_accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred), abs=1e-12)
        assert report["average_accuracy"] == pytest.approx(
            sk.balanced_accuracy_score(y_true, y_pred), abs=1e-12
        )
        assert report["kappa"] == pytest.approx(sk.cohen_kappa_score(y_true, y_pred), abs=1e-12)
        precision, recall, f1, support = sk.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
    for c, p, r, f, n in zip(report["classes"], precision, recall, f1, support, strict=True):
        assert c["reference_pixels"] == n
        assert c["f1"] == pytest.approx(f, abs=1e-12)
        if n:
            assert c["producer_accuracy"] == pytest.approx(r, abs=1e-12)
        else:
            assert c["producer_accuracy"] is None
        if c["predicted_pixels"]:
            assert c["user_accuracy"] == pytest.approx(p, abs=1e-12)
        else:
            assert c["user_accuracy"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_maps_match_sklearn(tmp_path, table, seed):
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 6, (50, 70)).astype(np.uint8)  # 0 = unlabelled
    prediction = perturb(reference, 5, 0.3, seed + 10)
    prediction[reference == 0] = rng.integers(0, 6, int((reference == 0).sum()))  # includes map nodata 0
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif", block_size=16).to_json()
    valid = (reference > 0) & (prediction > 0)
    assert report["pixels"]["evaluated"] == int(valid.sum())
    assert report["class_matching"] == "name"
    assert_matches_sklearn(report, reference[valid], prediction[valid])


@pytest.fixture(scope="module")
def houston_maps(tmp_path_factory):
    """TSLabel as reference and a seeded perturbed copy (with nodata holes) as prediction, as GeoTIFFs."""
    reference = scipy.io.loadmat(shared_file("houston2013", "TSLabel.mat"))["TSLabel"].astype(np.uint8)
    rng = np.random.default_rng(2013)
    prediction = perturb(reference, 15, 0.08, 2013)
    prediction[reference == 0] = rng.integers(1, 16, int((reference == 0).sum()))
    prediction[rng.random(reference.shape) < 0.01] = 0  # nodata holes of the map
    folder = tmp_path_factory.mktemp("houston")
    table = ClassTable.from_names(HOUSTON_NAMES)
    houston_grid = Affine(2.5, 0.0, 268000.0, 0.0, -2.5, 3290000.0)  # UTM 15N, 2.5 m GSD
    for name, array in (("reference.tif", reference), ("map.tif", prediction)):
        write_raster(folder / name, array, crs="EPSG:32615", transform=houston_grid, classes=table)
    return folder, reference, prediction


def test_houston_2013_maps_match_sklearn(houston_maps):
    folder, reference, prediction = houston_maps
    result = evaluate(folder / "map.tif", folder / "reference.tif", block_size=512)
    report = result.to_json()
    valid = (reference > 0) & (prediction > 0)
    assert_matches_sklearn(report, reference[valid], prediction[valid])
    assert [c["name"] for c in report["classes"]] == HOUSTON_NAMES
    assert report["pixels"]["evaluated"] + report["pixels"]["reference_without_prediction"] == 12197
    assert 0.85 < report["overall_accuracy"] < 0.97  # 8 % flipped, not a trivial map


def test_class_never_predicted_and_class_absent_from_reference(tmp_path, table):
    rng = np.random.default_rng(3)
    reference = rng.integers(1, 5, (40, 40)).astype(np.uint8)  # classes 1..4: 'Roof' (5) absent
    prediction = reference.copy()
    prediction[reference == 3] = 2  # 'Grass' (3) never predicted
    prediction[rng.random(reference.shape) < 0.1] = 5  # 'Roof' predicted, absent from the reference
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif").to_json()
    grass, roof = report["classes"][2], report["classes"][4]
    assert (grass["name"], grass["producer_accuracy"], grass["user_accuracy"]) == ("Grass", 0.0, None)
    assert not grass["predicted"]
    assert roof["name"] == "Roof" and not roof["in_reference"] and roof["producer_accuracy"] is None
    assert roof["predicted_pixels"] > 0
    assert_matches_sklearn(report, reference.ravel(), prediction.ravel())
    present = [c["producer_accuracy"] for c in report["classes"] if c["in_reference"]]
    assert report["average_accuracy"] == pytest.approx(np.mean(present))


def test_reference_at_another_resolution_is_upsampled_with_nearest(tmp_path):
    rng = np.random.default_rng(4)
    coarse = rng.integers(0, 4, (20, 20)).astype(np.uint8)  # 20 m pixels over the 10 m map grid
    write_raster(tmp_path / "ref.tif", coarse, transform=GRID_TRANSFORM @ Affine.scale(2))
    prediction = rng.integers(1, 4, (40, 40)).astype(np.uint8)
    write_raster(tmp_path / "map.tif", prediction)
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif").to_json()
    expected = np.kron(coarse, np.ones((2, 2), dtype=np.uint8))  # each 20 m pixel covers 2 x 2 map pixels
    valid = expected > 0
    assert report["class_matching"] == "id"
    assert_matches_sklearn(report, expected[valid], prediction[valid])


def test_reference_in_another_crs_is_aligned_with_nearest(tmp_path):
    """A lon/lat reference partly over the UTM map: counts are those of the label under each map pixel
    centre (computed here with an independent point transform)."""
    height = width = 40
    west, _, _, north = transform_bounds(
        UTM, "EPSG:4326", *rasterio.transform.array_bounds(40, 40, GRID_TRANSFORM)
    )
    ref_transform = Affine(0.00031, 0.0, west - 0.0005, 0.0, -0.00031, north - 0.0006)
    coarse = np.random.default_rng(5).integers(0, 6, (12, 14)).astype(np.uint8)
    write_raster(tmp_path / "ref.tif", coarse, crs="EPSG:4326", transform=ref_transform)

    rows, cols = np.mgrid[0:height, 0:width]
    xs, ys = GRID_TRANSFORM @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    lon, lat = transform(UTM, "EPSG:4326", xs, ys)
    c, r = ~ref_transform @ (np.asarray(lon), np.asarray(lat))
    ri, ci = np.floor(r).astype(int), np.floor(c).astype(int)
    inside = (ri >= 0) & (ri < 12) & (ci >= 0) & (ci < 14)
    expected = np.zeros(height * width, dtype=np.uint8)
    expected[inside] = coarse[ri[inside], ci[inside]]
    assert 0.3 < inside.mean() < 0.95  # partial overlap, the case worth testing

    prediction = np.where(expected > 0, expected, 1).reshape(height, width)
    write_raster(tmp_path / "map.tif", prediction)
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif").to_json()
    assert report["overall_accuracy"] == 1.0
    ids, counts = np.unique(expected[expected > 0], return_counts=True)
    got = {c["id"]: c["reference_pixels"] for c in report["classes"]}
    assert got == dict(zip(ids.tolist(), counts.tolist(), strict=True))


def test_no_overlap_is_a_data_error(tmp_path):
    far = GRID_TRANSFORM @ Affine.translation(10_000, 0)  # 100 km east
    write_raster(tmp_path / "ref.tif", np.ones((10, 10), np.uint8), transform=far)
    write_raster(tmp_path / "map.tif", np.ones((40, 40), np.uint8))
    with pytest.raises(DataError, match="does not overlap"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")


def test_empty_reference_is_a_data_error(tmp_path):
    write_raster(tmp_path / "ref.tif", np.zeros((40, 40), np.uint8))
    write_raster(tmp_path / "map.tif", np.ones((40, 40), np.uint8))
    with pytest.raises(DataError, match="no labelled pixel"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")


def test_reference_only_under_map_nodata_is_empty(tmp_path):
    reference = np.zeros((40, 40), np.uint8)
    reference[:10] = 2
    prediction = np.full((40, 40), 1, np.uint8)
    prediction[:10] = 255
    write_raster(tmp_path / "ref.tif", reference)
    write_raster(tmp_path / "map.tif", prediction, nodata=255)
    with pytest.raises(DataError, match="no labelled pixel"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")


def test_nodata_option_and_map_nodata_leave_pixels_out(tmp_path):
    rng = np.random.default_rng(6)
    reference = rng.integers(1, 4, (30, 30)).astype(np.uint8)
    prediction = reference.copy()
    prediction[:5] = 9  # --nodata 9
    prediction[5:8] = 200  # the map's own nodata
    prediction[8:10] = 0  # 0 is never a class
    write_raster(tmp_path / "ref.tif", reference)
    write_raster(tmp_path / "map.tif", prediction, nodata=200)
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif", nodata=9)
    assert result.metrics.n_pixels == 20 * 30
    assert result.reference_without_prediction == 10 * 30
    assert result.metrics.overall_accuracy == 1.0
    assert any("nodata in the map" in w for w in result.warnings)


def test_classes_are_matched_by_name_when_ids_are_permuted(tmp_path, table, names):
    rng = np.random.default_rng(7)
    reference = rng.integers(0, 6, (30, 30)).astype(np.uint8)
    permutation = {1: 3, 2: 5, 3: 1, 4: 2, 5: 4}  # reference id -> map id of the same class
    prediction = np.vectorize(lambda v: permutation.get(int(v), 0), otypes=[np.uint8])(reference)
    # The map spells one name differently in case and spacing: still the same class.
    spelled = {permutation[i + 1]: n for i, n in enumerate(names)} | {permutation[4]: "ROAD "}
    map_table = ClassTable(ClassInfo(i, n, default_colour(i)) for i, n in spelled.items())
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", prediction, classes=map_table)
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif").to_json()
    assert report["class_matching"] == "name"
    assert report["overall_accuracy"] == 1.0
    assert [(c["name"], c["map_value"]) for c in report["classes"]] == [
        (n, permutation[i + 1]) for i, n in enumerate(names)
    ]
    # Without the map's names the same map is matched by id, and a warning says so.
    (tmp_path / "map.tif.aux.xml").unlink()
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")
    assert result.class_matching == "id"
    assert result.metrics.overall_accuracy < 0.5
    assert any("matched by id" in w for w in result.warnings)


def test_map_class_table_given_explicitly(tmp_path, table):
    reference = np.tile(np.arange(1, 6, dtype=np.uint8), (10, 2))
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", reference)
    (tmp_path / "classes.json").write_text(__import__("json").dumps({"classes": table.to_json()}))
    result = evaluate(
        tmp_path / "map.tif", tmp_path / "ref.tif", map_classes=load_class_table(tmp_path / "classes.json")
    )
    assert result.class_matching == "name"
    assert not result.warnings


def test_no_common_class_name_is_a_data_error(tmp_path, table):
    reference = np.ones((10, 10), np.uint8)
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", reference, classes=ClassTable.from_names(["Forest", "Urban"]))
    with pytest.raises(DataError, match="no class name of the map"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")


def test_map_values_without_a_name_are_reported_not_dropped(tmp_path, table):
    reference = np.full((10, 10), 1, np.uint8)
    prediction = reference.copy()
    prediction[0] = 7  # not in the map's class table
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")
    extra = [c for c in result.classes if c.name == "map value 7"]
    assert len(extra) == 1 and extra[0].reference_value is None
    assert result.metrics.overall_accuracy == pytest.approx(0.9)


def test_scene_folder_counts_test_labels_only(tmp_path, table):
    rng = np.random.default_rng(8)
    labels = rng.integers(1, 6, (40, 40)).astype(np.uint8)
    split = rng.random(labels.shape)
    train = np.where(split < 0.2, labels, 0).astype(np.uint8)
    test = np.where(split > 0.5, labels, 0).astype(np.uint8)
    scene = write_scene(tmp_path / "scene", test, train, table)
    # Perfect on test pixels, wrong on every training pixel: training pixels must not count.
    prediction = labels.copy()
    prediction[train > 0] = prediction[train > 0] % 5 + 1
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    result = evaluate(tmp_path / "map.tif", scene)
    assert result.reference_kind == "scene"
    assert result.class_matching == "name"
    assert result.metrics.overall_accuracy == 1.0
    assert result.metrics.n_pixels == int((test > 0).sum())


def test_scene_whose_test_labels_overlap_training_drops_them(tmp_path, table):
    labels = np.tile(np.arange(1, 6, dtype=np.uint8), (20, 4))
    train = labels.copy()
    train[10:] = 0
    scene = write_scene(tmp_path / "scene", labels, train, table)  # test labels include training pixels
    write_raster(tmp_path / "map.tif", labels, classes=table)
    result = evaluate(tmp_path / "map.tif", scene)
    assert result.metrics.n_pixels == 10 * 20
    assert any("also training pixels" in w for w in result.warnings)


def test_scene_without_test_pixels_says_so(tmp_path, table):
    labels = np.tile(np.arange(1, 6, dtype=np.uint8), (20, 4))
    scene = write_scene(tmp_path / "scene", np.zeros_like(labels), labels, table)  # --train-per-class all
    write_raster(tmp_path / "map.tif", labels, classes=table)
    with pytest.raises(DataError, match=r"has no test pixels.*--test-labels"):
        evaluate(tmp_path / "map.tif", scene)


def write_vector(
    path: Path, boxes: list[tuple[float, float, float, float]], values: list, crs: str = UTM
) -> Path:
    import geopandas as gpd
    from shapely.geometry import box

    frame = gpd.GeoDataFrame({"landcover": values}, geometry=[box(*b) for b in boxes], crs=UTM)
    frame.to_crs(crs).to_file(path)
    return path


def pixel_box(col0: int, row0: int, col1: int, row1: int) -> tuple[float, float, float, float]:
    """Map coordinates of the pixel-edge rectangle [col0, col1) x [row0, row1) of the map grid."""
    x0, y0 = GRID_TRANSFORM @ (col0, row1)
    x1, y1 = GRID_TRANSFORM @ (col1, row0)
    return (x0, y0, x1, y1)


def test_vector_reference_with_class_names(tmp_path, table):
    prediction = np.full((40, 40), 2, np.uint8)  # 'Trees' everywhere
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    boxes = [pixel_box(0, 0, 10, 5), pixel_box(20, 20, 30, 40)]  # 50 px and 200 px
    write_vector(tmp_path / "ref.gpkg", boxes, ["trees", "Water"])
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover").to_json()
    counts = {c["name"]: c["reference_pixels"] for c in report["classes"]}
    # Matched case-insensitively; the report keeps the reference's spelling.
    assert counts == {"Water": 200, "trees": 50, "Grass": 0, "Road": 0, "Roof": 0}
    assert report["overall_accuracy"] == pytest.approx(50 / 250)
    assert report["reference"] == {
        "path": str(tmp_path / "ref.gpkg"),
        "kind": "vector",
        "field": "landcover",
        "mat_key": None,
    }


def test_a_polygon_reference_is_read_once(tmp_path, table, monkeypatch):
    """Whether a reference could be a validation sample without its design (a note) is answered from
    the layer's declared geometry type: a polygon layer is not read a second time for it."""
    from cfipt_cli.evaluate import sample_points
    from cfipt_cli.io import vectors

    write_raster(tmp_path / "map.tif", np.full((40, 40), 2, np.uint8), classes=table)
    write_vector(tmp_path / "ref.gpkg", [pixel_box(0, 0, 10, 5)], ["Trees"])
    reads: list[Path] = []
    original = vectors.read_layer
    monkeypatch.setattr(sample_points, "read_layer", lambda path: reads.append(path) or original(path))
    report = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover").to_json()
    assert report["overall_accuracy"] == 1.0 and reads == []


def test_vector_reference_in_another_crs_with_integer_ids(tmp_path):
    write_raster(tmp_path / "map.tif", np.full((40, 40), 3, np.uint8))
    write_vector(tmp_path / "ref.geojson", [pixel_box(5, 5, 25, 25)], [3], crs="EPSG:4326")
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.geojson", field="landcover")
    # Reprojected to the map CRS the square keeps its 400 px up to a pixel along its edges.
    assert abs(result.metrics.n_pixels - 400) <= 4 * 20 * 0.1
    assert result.metrics.overall_accuracy == 1.0


def test_all_touched_burns_every_touched_pixel(tmp_path):
    write_raster(tmp_path / "map.tif", np.full((40, 40), 1, np.uint8))
    x0, y0, x1, y1 = pixel_box(10, 10, 20, 20)
    write_vector(tmp_path / "ref.gpkg", [(x0 + 7, y0 + 7, x1 - 7, y1 - 7)], [1])  # 0.7 px inset
    inner = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover")
    touched = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover", all_touched=True)
    assert (inner.metrics.n_pixels, touched.metrics.n_pixels) == (8 * 8, 10 * 10)


def test_vector_errors(tmp_path):
    write_raster(tmp_path / "map.tif", np.full((40, 40), 1, np.uint8))
    write_vector(tmp_path / "ref.gpkg", [pixel_box(0, 0, 5, 5)], ["Trees"])
    with pytest.raises(DataError, match=r"no field 'class'.*landcover"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="class")
    with pytest.raises(DataError, match="no class names"):  # names in the vector, none in the map
        evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover")
    with pytest.raises(CfiptUsageError, match="--field"):
        evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg")
    far = [(b + 1e6) for b in pixel_box(0, 0, 5, 5)]
    write_vector(tmp_path / "far.gpkg", [tuple(far)], [1])
    with pytest.raises(DataError, match="does not overlap"):
        evaluate(tmp_path / "map.tif", tmp_path / "far.gpkg", field="landcover")


@pytest.mark.parametrize("odd", ["1.5", "1e0", "True"])
def test_a_vector_field_of_ids_and_values_that_are_not_ids_is_an_error(tmp_path, table, odd):
    """The rule of prepare's label fields (`io.vectors.integer_class_ids`): never a silent switch to names."""
    write_raster(tmp_path / "map.tif", np.full((40, 40), 2, np.uint8), classes=table)
    boxes = [pixel_box(0, 0, 10, 5), pixel_box(20, 20, 30, 40), pixel_box(0, 30, 5, 35)]
    write_vector(tmp_path / "ref.gpkg", boxes, ["1", "2", odd])
    with pytest.raises(DataError) as info:
        evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="landcover")
    message = str(info.value)
    assert f"holds class ids and values that are not ids: '{odd}' (1 feature)" in message
    assert "--class-names" not in message  # an option of prepare, not of evaluate
