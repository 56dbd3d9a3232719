"""References read through the raster, vector and co-registration code that `prepare` uses: the cases
where evaluate's own stack had other rules (vector suffixes, labelled features, names, messages) and the
exact nearest-neighbour warp of class rasters."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from evaluate_builders import GRID_TRANSFORM, UTM, evaluate, write_raster
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform, transform_bounds
from shapely.geometry import box

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.rasters import open_raster
from cfipt_cli.io.vectors import VECTOR_SUFFIXES, read_layer


def pixel_box(col0: int, row0: int, col1: int, row1: int) -> box:
    """The pixel-edge rectangle [col0, col1) x [row0, row1) of the map grid."""
    x0, y0 = GRID_TRANSFORM @ (col0, row1)
    x1, y1 = GRID_TRANSFORM @ (col1, row0)
    return box(x0, y0, x1, y1)


@pytest.fixture
def two_squares(tmp_path):
    """A 40 x 40 map of class 1 (ids only) and a layer of two squares: 50 px of class 1, 200 px of 2."""
    write_raster(tmp_path / "map.tif", np.full((40, 40), 1, np.uint8))
    geometry = [pixel_box(0, 0, 10, 5), pixel_box(20, 20, 30, 40)]
    return tmp_path, gpd.GeoDataFrame({"code": [1, 2]}, geometry=geometry, crs=UTM)


def test_every_suffix_either_stack_knew_is_a_vector_layer():
    prepare_before = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml", ".sqlite", ".gdb", ".zip"}
    evaluate_before = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml", ".gml", ".sqlite", ".parquet"}
    assert prepare_before | evaluate_before <= VECTOR_SUFFIXES


def test_a_zipped_shapefile_is_a_vector_reference(two_squares):
    """evaluate took a .zip for a raster (and failed to read it); prepare knew it as a layer."""
    folder, frame = two_squares
    frame.to_file(folder / "squares.shp")
    with zipfile.ZipFile(folder / "squares.zip", "w") as archive:
        for part in folder.glob("squares.*"):
            if part.suffix != ".zip":
                archive.write(part, part.name)
    with pytest.raises(CfiptUsageError, match="looks like a vector file: pass --field"):
        evaluate(folder / "map.tif", folder / "squares.zip")
    result = evaluate(folder / "map.tif", folder / "squares.zip", field="code")
    assert result.reference_kind == "vector"
    assert {c.id: int(n) for c, n in zip(result.classes, result.metrics.reference_pixels, strict=True)} == {
        1: 50,
        2: 200,
    }


@pytest.mark.filterwarnings(
    "ignore:Field code of type Integer64:RuntimeWarning"
)  # OpenFileGDB writes Float64
def test_a_file_geodatabase_folder_is_a_vector_reference_not_a_scene(two_squares):
    folder, frame = two_squares
    frame.to_file(folder / "squares.gdb", driver="OpenFileGDB")
    assert (folder / "squares.gdb").is_dir()
    result = evaluate(folder / "map.tif", folder / "squares.gdb", field="code")
    assert result.reference_kind == "vector" and result.metrics.n_pixels == 250


def test_features_without_a_class_value_are_left_out_with_a_warning(tmp_path, table):
    """prepare's rule: an empty value or no geometry is no class (evaluate counted a class named '')."""
    write_raster(tmp_path / "map.tif", np.full((40, 40), 1, np.uint8), classes=table)
    geometry = [pixel_box(0, 0, 10, 5), pixel_box(20, 20, 30, 40), pixel_box(0, 30, 5, 35), None]
    frame = gpd.GeoDataFrame({"kind": ["Water", " ", None, "Trees"]}, geometry=geometry, crs=UTM)
    frame.to_file(tmp_path / "ref.gpkg")
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="kind")
    assert [c.name for c in result.classes] == table.names  # no class named ''
    assert result.metrics.n_pixels == 50 and result.metrics.overall_accuracy == 1.0
    assert (
        f"{tmp_path / 'ref.gpkg'}: 3 features without geometry or class value are left out" in result.warnings
    )


def test_integral_numbers_used_as_names_read_as_in_prepare(tmp_path):
    """A numeric field without any possible id holds names, written '0', '-1' (evaluate wrote '0.0')."""
    names = ["0", "-1"]
    write_raster(tmp_path / "map.tif", np.full((40, 40), 1, np.uint8), classes=ClassTable.from_names(names))
    geometry = [pixel_box(0, 0, 10, 5), pixel_box(20, 20, 30, 40)]
    gpd.GeoDataFrame({"code": [0.0, -1.0]}, geometry=geometry, crs=UTM).to_file(tmp_path / "ref.gpkg")
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.gpkg", field="code")
    assert result.class_matching == "name"
    assert {c.name: c.map_value for c in result.classes} == {"0": 1, "-1": 2}


def test_unreadable_files_get_the_messages_of_the_shared_readers(tmp_path):
    write_raster(tmp_path / "map.tif", np.full((10, 10), 1, np.uint8))
    for name in ("junk.tif", "junk.gpkg"):
        (tmp_path / name).write_text("not a raster, not a layer")
    with pytest.raises(DataError) as by_prepare:
        open_raster(tmp_path / "junk.tif", "hsi")
    with pytest.raises(DataError) as by_evaluate:
        evaluate(tmp_path / "junk.tif", tmp_path / "map.tif")
    assert str(by_evaluate.value) == str(by_prepare.value)
    with pytest.raises(DataError) as by_prepare:
        read_layer(tmp_path / "junk.gpkg")
    with pytest.raises(DataError) as by_evaluate:
        evaluate(tmp_path / "map.tif", tmp_path / "junk.gpkg", field="code")
    assert str(by_evaluate.value) == str(by_prepare.value)


def test_a_warped_reference_takes_the_class_under_each_map_pixel_centre(tmp_path):
    """A 5 m lon/lat reference under a 30 m UTM map: GDAL's approximate transform (reproject's, 1/8 px)
    would give some map pixels the class of a neighbouring reference pixel; counts need the exact one."""
    n, res, step = 200, 30.0, 0.00009
    grid = Affine(res, 0.0, 500000.0, 0.0, -res, 4100000.0)
    west, south, east, north = transform_bounds(
        UTM, "EPSG:4326", *rasterio.transform.array_bounds(n, n, grid)
    )
    ref_transform = Affine(step, 0.0, west - 0.0005, 0.0, -step, north + 0.0005)
    shape = (int((north - south + 0.002) / step), int((east - west + 0.002) / step))
    labels = np.random.default_rng(5).integers(1, 6, shape).astype(np.uint8)
    write_raster(tmp_path / "ref.tif", labels, crs="EPSG:4326", transform=ref_transform)

    rows, cols = np.mgrid[0:n, 0:n]
    lon, lat = transform(UTM, "EPSG:4326", *(grid @ (cols.ravel() + 0.5, rows.ravel() + 0.5)))
    c, r = ~ref_transform @ (np.asarray(lon), np.asarray(lat))
    expected = labels[np.floor(r).astype(int), np.floor(c).astype(int)].reshape(n, n)
    approximate = np.zeros((n, n), np.uint8)
    reproject(labels, approximate, src_transform=ref_transform, src_crs="EPSG:4326", dst_transform=grid,
              dst_crs=UTM, resampling=Resampling.nearest)  # fmt: skip
    assert np.count_nonzero(approximate != expected) > 100  # the case worth testing

    write_raster(tmp_path / "map.tif", expected, crs=UTM, transform=grid)
    result = evaluate(tmp_path / "map.tif", tmp_path / "ref.tif")
    assert result.metrics.n_pixels == n * n and result.metrics.overall_accuracy == 1.0


def test_a_raster_without_crs_is_a_pixel_grid_as_in_prepare(tmp_path):
    """The label raster a scene was prepared from may store a geotransform without a CRS; prepare took
    it pixel for pixel (`io.rasters`), and so does evaluate now (it refused it beside a pixel-grid map)."""
    labels = np.random.default_rng(3).integers(1, 4, (30, 40)).astype(np.uint8)
    write_raster(tmp_path / "map.tif", labels, crs=None, transform=None)  # as predict writes it
    write_raster(tmp_path / "labels.tif", labels, crs=None, transform=GRID_TRANSFORM)
    result = evaluate(tmp_path / "map.tif", tmp_path / "labels.tif")
    assert result.metrics.n_pixels == 30 * 40 and result.metrics.overall_accuracy == 1.0
    write_raster(tmp_path / "part.tif", labels[:, :20], crs=None, transform=GRID_TRANSFORM)
    with pytest.raises(DataError, match=r"\(30 x 20 px\) and the map \(30 x 40 px\) have no georeference"):
        evaluate(tmp_path / "map.tif", tmp_path / "part.tif")
