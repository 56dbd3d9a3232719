"""The GeoTIFF writers of `cfipt predict` (`cfipt_cli.io.mapio`): dtype, georeference, palette, names,
overviews, options."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from cfipt_cli.io import mapio
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.gtiff import class_map_dtype
from cfipt_cli.io.rasters import Grid

TRANSFORM = Affine(2.0, 0.0, 500010.0, 0.0, -2.0, 4000020.0)  # projected, a non-trivial origin


def _grid(width: int = 40, height: int = 30) -> Grid:
    return Grid(width, height, CRS.from_epsg(32633), TRANSFORM)


def _write_map(path, classes: ClassTable, ids: np.ndarray, co=None) -> None:
    grid = _grid(ids.shape[1], ids.shape[0])
    with mapio.open_class_map(path, grid, classes, co) as dst:
        dst.write(ids, 1)
        mapio.finish_class_map(dst, classes)
    mapio.write_class_sidecars(path, classes)


def test_class_map_dtype_boundary():
    assert class_map_dtype(255) == "uint8"
    assert class_map_dtype(256) == "uint16"


def test_map_has_palette_names_overviews_and_georeference(tmp_path):
    classes = ClassTable.from_json(
        [{"id": 3, "name": "Water", "colour": "#0000ff"}, {"id": 7, "name": "Trees", "colour": "#00aa00"}]
    )
    ids = np.where(np.arange(40)[None] % 2 == 0, 3, 7).repeat(30, axis=0).astype(np.uint8)
    ids[0, :5] = 0
    path = tmp_path / "map.tif"
    _write_map(path, classes, ids)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert src.crs == CRS.from_epsg(32633) and src.transform == TRANSFORM
        assert src.compression.name.lower() == "deflate" and src.profile["tiled"]
        assert src.block_shapes[0] == (512, 512)
        assert src.overviews(1) == [2]
        cmap = src.colormap(1)
        assert cmap[3][:3] == (0, 0, 255) and cmap[7][:3] == (0, 170, 0) and cmap[0][3] == 0
        np.testing.assert_array_equal(src.read(1), ids)
    root = ET.parse(str(path) + ".aux.xml").getroot()
    names = [c.text or "" for c in root.iter("Category")]
    assert names[3] == "Water" and names[7] == "Trees" and names[0] == ""
    assert ClassTable.from_aux_xml(path).names == ["Water", "Trees"]  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdalinfo is not installed")
def test_gdalinfo_sees_palette_and_names(tmp_path):
    classes = ClassTable.from_names(["Water", "Trees"])
    path = tmp_path / "map.tif"
    _write_map(path, classes, np.ones((30, 40), dtype=np.uint8))
    text = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Color Table" in text and "Water" in text and "Trees" in text


def test_uint16_beyond_255_classes(tmp_path):
    classes = ClassTable.from_ids(range(1, 301))
    ids = np.arange(1, 301, dtype=np.uint16).reshape(15, 20)
    path = tmp_path / "map.tif"
    _write_map(path, classes, ids)
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint16"
        np.testing.assert_array_equal(src.read(1), ids)
        assert src.colormap(1)[300][:3] == classes.colormap()[300][:3]
    assert ClassTable.from_aux_xml(path).name_of(300) == "class 300"  # type: ignore[union-attr]


def test_creation_options_override_defaults(tmp_path):
    path = tmp_path / "map.tif"
    _write_map(
        path,
        ClassTable.from_names(["a"]),
        np.ones((30, 40), np.uint8),
        {"compress": "LZW", "BLOCKXSIZE": "256", "BLOCKYSIZE": "256"},
    )
    with rasterio.open(path) as src:
        assert src.compression.name.lower() == "lzw"
        assert src.block_shapes[0] == (256, 256)


def test_probabilities_and_confidence_bands(tmp_path):
    classes = ClassTable.from_names(["Water", "Trees", "Roads"])
    grid = _grid(8, 6)
    proba = np.random.default_rng(0).random((3, 6, 8)).astype(np.float32)
    proba[:, 0, 0] = np.nan
    with mapio.open_probabilities(tmp_path / "p.tif", grid, classes, None) as dst:
        dst.write(proba)
    with mapio.open_confidence(tmp_path / "c.tif", grid, None) as dst:
        dst.write(proba.max(axis=0), 1)
    with rasterio.open(tmp_path / "p.tif") as src:
        assert src.count == 3 and src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert list(src.descriptions) == ["Water", "Trees", "Roads"]
        np.testing.assert_array_equal(src.read(), proba)
        assert src.crs == grid.crs and src.transform == TRANSFORM
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.isnan(src.read(1)[0, 0]) and src.read(1)[1, 1] == proba[:, 1, 1].max()


@pytest.mark.parametrize(
    ("size", "expected"), [((1, 1), []), ((30, 40), [2]), ((600, 300), [2, 4]), ((2000, 1000), [2, 4, 8])]
)
def test_overview_factors(size, expected):
    assert mapio.overview_factors(*size) == expected


def test_quicklook_colours_and_transparent_nodata(tmp_path):
    from matplotlib.image import imread

    classes = ClassTable.from_json(
        [{"id": 1, "name": "Water", "colour": "#0000ff"}, {"id": 2, "name": "Trees", "colour": "#00ff00"}]
    )
    ids = np.ones((30, 40), np.uint8)
    ids[:, 20:] = 2
    ids[0, 0] = 0
    _write_map(tmp_path / "map.tif", classes, ids)
    png = mapio.write_quicklook(tmp_path / "map.tif", tmp_path / "map.png", classes)
    rgba = (imread(png) * 255).round().astype(int)
    assert rgba.shape == (30, 40, 4)
    assert tuple(rgba[5, 5]) == (0, 0, 255, 255) and tuple(rgba[5, 30]) == (0, 255, 0, 255)
    assert rgba[0, 0, 3] == 0


def test_quicklook_is_downsampled(tmp_path):
    from matplotlib.image import imread

    classes = ClassTable.from_names(["a", "b"])
    _write_map(tmp_path / "map.tif", classes, np.ones((30, 40), np.uint8))
    png = mapio.write_quicklook(tmp_path / "map.tif", tmp_path / "q.png", classes, max_side=20)
    assert imread(png).shape[:2] == (15, 20)
