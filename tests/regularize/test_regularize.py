"""`cfipt regularize` on small maps: block-wise equals the whole-array vote, the sieve's sizes across
block borders, what the cleaned map keeps (palette, names, nodata, grid, layout, QGIS style)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.features import sieve
from regularize_builders import CLASSES, TRANSFORM, noisy_map, slow_majority, write_map
from scipy import ndimage

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.regularize.pipeline import run_regularize
from cfipt_cli.regularize.request import RegularizeRequest
from cfipt_cli.testing.qgis_probe import has_qgis, qgis_legend


def _run(map_path: Path, out: Path, **kwargs: object) -> dict[str, object]:
    return run_regularize(RegularizeRequest(map_path, out, **kwargs))  # type: ignore[arg-type]


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def isolated(ids: np.ndarray) -> int:
    """Class pixels whose four neighbours (inside the map) all hold another value."""
    padded = np.pad(ids, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    same = [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    alone = np.logical_and.reduce([n != centre for n in same])
    return int((alone & (ids != 0)).sum())


@pytest.mark.parametrize(("radius", "block"), [(1, 5), (2, 7), (3, 16), (2, 512)])
def test_the_blockwise_vote_equals_the_whole_array_loop(tmp_path: Path, radius: int, block: int) -> None:
    ids = noisy_map(seed=radius)
    write_map(tmp_path / "map.tif", ids)
    summary = _run(tmp_path / "map.tif", tmp_path / "clean.tif", radius=radius, block_size=block)
    expected = slow_majority(ids, radius)
    np.testing.assert_array_equal(_read(tmp_path / "clean.tif"), expected)
    assert summary["changed_by_majority"] == int((expected != ids).sum()) > 0


def test_the_maps_own_nodata_never_wins_and_is_kept(tmp_path: Path) -> None:
    ids = noisy_map()
    ids[ids == 0] = 255  # nodata 255: 0 is no class either
    ids[10, 20] = 0
    write_map(tmp_path / "map.tif", ids, nodata=255)
    _run(tmp_path / "map.tif", tmp_path / "clean.tif", radius=2, block_size=9)
    with rasterio.open(tmp_path / "clean.tif") as src:
        assert src.nodata == 255
        clean = src.read(1)
    as_zero = np.where(ids == 255, 0, ids)
    expected = np.where(slow_majority(as_zero, 2) == 0, 255, slow_majority(as_zero, 2))
    np.testing.assert_array_equal(clean, expected)
    assert (clean[:, :3] == 255).all() and clean[10, 20] == 255


def _regions(ids: np.ndarray, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    labels = np.zeros(ids.shape, np.int64)
    count = 0
    for value in np.unique(ids[ids != 0]):
        lab, n = ndimage.label(ids == value, structure)
        labels[lab > 0] = lab[lab > 0] + count
        count += n
    return labels, np.bincount(labels.ravel())


def test_the_sieve_removes_regions_under_n_and_keeps_n_across_a_block_border(tmp_path: Path) -> None:
    ids = np.full((20, 20), 1, np.uint8)
    ids[2, 5:11] = 2  # 6 pixels, crossing the border of the 8-pixel blocks at column 8: kept
    ids[12, 5:10] = 3  # 5 pixels, crossing it too: merged into its neighbour
    ids[6:10, 15] = 7  # 4 pixels crossing the border at row 8: merged
    ids[0:3, 0:2] = 0  # nodata: no region, never filled
    write_map(tmp_path / "map.tif", ids)
    summary = _run(tmp_path / "map.tif", tmp_path / "clean.tif", sieve=6, block_size=8)
    clean = _read(tmp_path / "clean.tif")
    assert (clean[2, 5:11] == 2).all() and (clean[12, 5:10] == 1).all() and (clean[6:10, 15] == 1).all()
    assert (clean[0:3, 0:2] == 0).all() and summary["changed_by_sieve"] == 9


@pytest.mark.parametrize("connectivity", [4, 8])
def test_after_the_vote_and_the_sieve_no_region_under_n_is_left(tmp_path: Path, connectivity: int) -> None:
    ids = noisy_map(seed=3)
    write_map(tmp_path / "map.tif", ids)
    _run(
        tmp_path / "map.tif",
        tmp_path / "clean.tif",
        radius=1,
        sieve=5,
        connectivity=connectivity,
        block_size=7,
    )
    clean = _read(tmp_path / "clean.tif")
    voted = slow_majority(ids, 1)
    expected = sieve(voted, 5, mask=voted != 0, connectivity=connectivity)  # GDAL on the whole array
    np.testing.assert_array_equal(clean, expected)
    _, sizes = _regions(clean, connectivity)
    small = [r for r in range(1, len(sizes)) if sizes[r] < 5]
    assert not small, f"regions under 5 pixels left: {[sizes[r] for r in small]}"
    assert (clean[ids == 0] == 0).all() and (clean[ids != 0] != 0).all()  # nodata neither grew nor shrank


def test_the_cleaned_map_keeps_palette_names_nodata_grid_and_layout(tmp_path: Path) -> None:
    ids = noisy_map()
    with rasterio.open(write_map(tmp_path / "raw.tif", ids)) as src:
        profile = src.profile
    profile.update(tiled=True, blockxsize=16, blockysize=16, compress="lzw")
    with rasterio.open(tmp_path / "map.tif", "w", **profile) as dst:
        dst.write(ids, 1)
        dst.write_colormap(1, CLASSES.colormap())
    CLASSES.write_aux_xml(tmp_path / "map.tif")
    _run(tmp_path / "map.tif", tmp_path / "clean.tif", radius=1, sieve=3)
    with rasterio.open(tmp_path / "clean.tif") as src:
        assert src.crs == CRS.from_epsg(32633) and src.transform == TRANSFORM and src.nodata == 0
        assert src.block_shapes[0] == (16, 16) and src.compression.name.lower() == "lzw"
        assert src.dtypes[0] == "uint8" and src.overviews(1)
        colours = src.colormap(1)
    assert all(colours[c.id][:3] == c.colour for c in CLASSES) and colours[0][3] == 0
    assert ClassTable.from_aux_xml(tmp_path / "clean.tif").names == CLASSES.names  # type: ignore[union-attr]
    palette = ET.fromstring((tmp_path / "clean.qml").read_text().split("\n", 2)[2]).iter("paletteEntry")
    assert [(e.get("value"), e.get("label")) for e in palette] == [(str(c.id), c.name) for c in CLASSES]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "clean.qml",
        "clean.tif",
        "clean.tif.aux.xml",
        "map.tif",
        "map.tif.aux.xml",
        "raw.tif",
        "raw.tif.aux.xml",
    ]


def test_a_noisy_map_has_fewer_isolated_pixels_after(tmp_path: Path, regularize_cli) -> None:
    ids = noisy_map(seed=5)
    write_map(tmp_path / "map.tif", ids)
    code, out, _ = regularize_cli(
        tmp_path / "map.tif", "--out", tmp_path / "clean.tif", "--radius", "1", "--json"
    )
    assert code == 0
    summary = json.loads(out)
    clean = _read(tmp_path / "clean.tif")
    assert isolated(clean) < isolated(ids) / 10 and isolated(ids) > 50
    assert {c["name"]: c["pixels"] for c in summary["classes"]} == {
        c.name: int((clean == c.id).sum()) for c in CLASSES
    }


@pytest.mark.skipif(not has_qgis(), reason="no QGIS for /usr/bin/python3 (CI has none)")
def test_the_cleaned_map_opens_in_qgis_with_a_legend_of_exactly_its_classes(tmp_path: Path) -> None:
    write_map(tmp_path / "map.tif", noisy_map())
    _run(tmp_path / "map.tif", tmp_path / "clean.tif", radius=1)
    shown = qgis_legend(tmp_path / "clean.tif")
    assert shown["valid"] and shown["type"] == "paletted"
    assert shown["legend"] == [[c.name, "#{:02x}{:02x}{:02x}".format(*c.colour)] for c in CLASSES]
