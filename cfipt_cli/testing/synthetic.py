"""Seeded synthetic scenes: tiny georeferenced HSI + LiDAR (+ SAR) with labels, for tests and the demo.

The HSI is written on its own grid (default EPSG:32632, 2 m) from the class cells of `world`; the
LiDAR DSM and the SAR come from `aux_rasters` (other CRSs, other resolutions); labels come as
GeoPackage polygons and points from `vector_labels`, and as a label raster on the HSI grid.
`write_large_scene` writes a big scene window by window for the memory benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from cfipt_cli.io.gtiff import geotiff_profile
from cfipt_cli.io.rasters import Grid, iter_windows
from cfipt_cli.testing.aux_rasters import write_dsm, write_sar
from cfipt_cli.testing.vector_labels import cell_polygons, label_points
from cfipt_cli.testing.world import (
    CLASS_NAMES,
    HSI_CRS,
    HSI_ORIGIN,
    CellMap,
    cell_classes,
    class_at,
    class_signatures,
    from_origin,
    hsi_block,
    smooth_texture,
)


@dataclass(frozen=True)
class SceneSpec:
    """What `make_scene` writes; everything random derives from `seed`."""

    height: int = 48  # HSI size in pixels (multiples of `cell` keep every cell whole)
    width: int = 40
    n_bands: int = 16  # HSI bands
    n_classes: int = 4  # at most 8 named ones unless `class_names` is given
    seed: int = 0
    cell: int = 8  # side of the square single-class cells, in HSI pixels
    res: float = 2.0  # HSI pixel size (m)
    lidar_res: float = 3.0  # DSM pixel size in its own CRS
    with_sar: bool = False  # also write a 2-band SAR raster in EPSG:3857
    class_names: Sequence[str] | None = None  # default: CLASS_NAMES
    labelled_fraction: float = 0.6  # share of cells that get a label polygon


@dataclass
class SyntheticScene:
    """Paths and ground truth of a generated scene (class ids are 1..K, 0 = outside the labelled cells)."""

    root: Path
    hsi: Path
    lidar: Path
    sar: Path | None
    polygons: Path
    points: Path
    label_raster: Path
    truth: np.ndarray  # (H, W) class id of every HSI pixel
    polygon_truth: np.ndarray  # (H, W) what the polygons should rasterise to
    point_rows: np.ndarray
    point_cols: np.ndarray
    point_classes: np.ndarray
    class_names: list[str]
    transform: Affine
    crs: str


def _write_hsi(path: Path, cube: np.ndarray, transform: Affine, crs: str | None) -> None:
    grid = Grid(cube.shape[2], cube.shape[1], CRS.from_user_input(crs) if crs else None, transform)
    profile = geotiff_profile(grid, cube.shape[0], "float32", float("nan"))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cube)


def _write_label_raster(path: Path, labels: np.ndarray, transform: Affine) -> None:
    """Class ids on the HSI grid (uint8, 0 = unlabelled)."""
    grid = Grid(labels.shape[1], labels.shape[0], CRS.from_user_input(HSI_CRS), transform)
    with rasterio.open(path, "w", **geotiff_profile(grid, 1, "uint8", 0)) as dst:
        dst.write(labels.astype(np.uint8)[None])


def _labelled_cells(cells: np.ndarray, spec: SceneSpec) -> np.ndarray:
    """Which cells get a label polygon: a random share, and at least one cell of every class."""
    labelled = np.random.default_rng(spec.seed + 5).random(cells.shape) < spec.labelled_fraction
    for class_id in range(1, spec.n_classes + 1):
        where = np.argwhere(cells == class_id)
        if where.size and not labelled[cells == class_id].any():
            labelled[tuple(where[0])] = True
    return labelled


def make_scene(root: str | Path, spec: SceneSpec | None = None, **changes: Any) -> SyntheticScene:
    """Write a small synthetic scene into `root` (created) and return its paths and ground truth.

    `spec` (default `SceneSpec()`) with `changes` to its fields, e.g. `make_scene(root, with_sar=True)`.
    """
    spec = replace(spec or SceneSpec(), **changes)
    out, cell, seed = Path(root), spec.cell, spec.seed
    out.mkdir(parents=True, exist_ok=True)
    names = list(spec.class_names or CLASS_NAMES)[: spec.n_classes]
    transform = from_origin(HSI_ORIGIN[0], HSI_ORIGIN[1], spec.res, spec.res)
    cells = cell_classes(-(-spec.height // cell), -(-spec.width // cell), spec.n_classes, seed)
    rows, cols = np.mgrid[0 : spec.height, 0 : spec.width]
    truth = class_at(cells, cell, rows + 0.5, cols + 0.5)
    signatures = class_signatures(spec.n_classes, spec.n_bands, seed)
    texture = smooth_texture(spec.height, spec.width, seed)
    _write_hsi(
        out / "hsi.tif",
        hsi_block(truth, signatures, texture, np.random.default_rng(seed)),
        transform,
        HSI_CRS,
    )
    cell_map = CellMap(cells, cell, transform, spec.height, spec.width)
    write_dsm(out / "lidar.tif", cell_map, res=spec.lidar_res)
    sar_path = out / "sar.tif" if spec.with_sar else None
    if sar_path is not None:
        write_sar(sar_path, cell_map, seed)
    labelled = _labelled_cells(cells, spec)
    cell_polygons(cells, cell, labelled, transform, names).to_file(out / "labels.gpkg", driver="GPKG")
    polygon_truth = np.where(labelled[rows // cell, cols // cell], truth, 0)
    points, p_rows, p_cols, p_classes = label_points(truth, transform, names, 6, seed)
    points.to_file(out / "points.gpkg", driver="GPKG")
    _write_label_raster(out / "label_raster.tif", polygon_truth, transform)
    return SyntheticScene(
        root=out,
        hsi=out / "hsi.tif",
        lidar=out / "lidar.tif",
        sar=sar_path,
        polygons=out / "labels.gpkg",
        points=out / "points.gpkg",
        label_raster=out / "label_raster.tif",
        truth=truth,
        polygon_truth=polygon_truth,
        point_rows=p_rows,
        point_cols=p_cols,
        point_classes=p_classes,
        class_names=names,
        transform=transform,
        crs=HSI_CRS,
    )


def write_large_scene(
    root: str | Path,
    height: int = 4000,
    width: int = 4000,
    n_bands: int = 64,
    n_classes: int = 6,
    seed: int = 0,
    cell: int = 40,
    window: int = 512,
    n_polygons: int = 400,
) -> dict[str, Path]:
    """Write a large scene window by window (int16 HSI reflectance x 10000, DSM, polygons); never whole.

    Returns the paths {"hsi", "lidar", "labels"}.
    """
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    transform = from_origin(HSI_ORIGIN[0], HSI_ORIGIN[1], 1.0, 1.0)
    cells = cell_classes(-(-height // cell), -(-width // cell), n_classes, seed)
    signatures = class_signatures(n_classes, n_bands, seed)
    rng = np.random.default_rng(seed)
    options = {"tiled": True, "blockxsize": 256, "blockysize": 256, "bigtiff": "IF_SAFER"}
    profile = geotiff_profile(
        Grid(width, height, CRS.from_user_input(HSI_CRS), transform), n_bands, "int16", -9999, options
    )
    with rasterio.open(out / "hsi.tif", "w", **profile) as dst:
        for win in iter_windows(height, width, window):
            rows, cols = np.mgrid[
                win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width
            ]
            classes = class_at(cells, cell, rows + 0.5, cols + 0.5)
            texture = rng.normal(0.0, 1.0, size=classes.shape).astype(np.float32)
            block = hsi_block(classes, signatures, texture, rng)
            dst.write(np.round(block * 10000).astype(np.int16), window=win)
    write_dsm(out / "lidar.tif", CellMap(cells, cell, transform, height, width), res=2.0, window=window)
    labelled = np.zeros(cells.size, dtype=bool)
    labelled[
        np.random.default_rng(seed + 5).choice(cells.size, size=min(n_polygons, cells.size), replace=False)
    ] = True
    names = CLASS_NAMES[:n_classes]
    cell_polygons(cells, cell, labelled.reshape(cells.shape), transform, names).to_file(
        out / "labels.gpkg", driver="GPKG"
    )
    return {"hsi": out / "hsi.tif", "lidar": out / "lidar.tif", "labels": out / "labels.gpkg"}
