"""The auxiliary rasters of a synthetic scene: a DSM and a SAR image in other CRSs, at other resolutions.

They are written by sampling the class map at their own pixel centres (exact, no resampling of the
HSI), so that co-registration has real work to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as transform_coords
from rasterio.warp import transform_bounds

from cfipt_cli.io.gtiff import geotiff_profile
from cfipt_cli.io.rasters import Grid, iter_windows
from cfipt_cli.testing.world import CLASS_NAMES, HEIGHTS, HSI_CRS, CellMap, class_at, from_origin, terrain

LIDAR_CRS = "EPSG:32633"  # the neighbouring UTM zone: the grids are rotated by about 3 degrees
SAR_CRS = "EPSG:3857"
NODATA_DSM = -9999.0


def _aux_grid(cell_map: CellMap, crs: str, res: float) -> tuple[Affine, int, int]:
    """A north-up grid in `crs` at `res` covering the HSI footprint: transform, width, height."""
    hsi_transform = cell_map.transform
    left, top = hsi_transform.c, hsi_transform.f
    right, bottom = left + cell_map.width * hsi_transform.a, top + cell_map.height * hsi_transform.e
    b = transform_bounds(HSI_CRS, crs, left, bottom, right, top)
    return (
        from_origin(b[0], b[3], res, res),
        int(np.ceil((b[2] - b[0]) / res)),
        int(np.ceil((b[3] - b[1]) / res)),
    )


def _apply(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An affine transform applied to coordinate arrays."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def _sample_aux(
    cell_map: CellMap, crs: str, transform: Affine, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class id and HSI-CRS coordinates at aux pixel centres (rows, cols of the aux grid)."""
    xs, ys = _apply(transform, cols + 0.5, rows + 0.5)
    hx, hy = transform_coords(crs, HSI_CRS, xs.ravel(), ys.ravel())
    hx, hy = np.asarray(hx).reshape(xs.shape), np.asarray(hy).reshape(xs.shape)
    fc, fr = _apply(~cell_map.transform, hx, hy)
    # Clamp to the HSI grid: the auxiliary rasters extend the edge cells, as real acquisitions overlap.
    cells, cell = cell_map.cells, cell_map.cell
    n_rows, n_cols = cells.shape[0] * cell, cells.shape[1] * cell
    fr = np.clip(np.asarray(fr), 0.0, n_rows - 1e-6)
    fc = np.clip(np.asarray(fc), 0.0, n_cols - 1e-6)
    return class_at(cells, cell, fr, fc), hx, hy


def write_dsm(
    path: Path, cell_map: CellMap, crs: str = LIDAR_CRS, res: float = 3.0, window: int = 512
) -> None:
    """A DSM (terrain + class height) in `crs` at `res` metres, covering the HSI footprint (nodata -9999)."""
    transform, w, h = _aux_grid(cell_map, crs, res)
    profile = geotiff_profile(
        Grid(w, h, CRS.from_user_input(crs), transform),
        1,
        "float32",
        NODATA_DSM,
        {"tiled": True, "compress": "deflate"},
    )
    with rasterio.open(path, "w", **profile) as dst:
        for win in iter_windows(h, w, window):
            rows, cols = np.mgrid[
                win.row_off : win.row_off + win.height, win.col_off : win.col_off + win.width
            ]
            classes, hx, hy = _sample_aux(cell_map, crs, transform, rows, cols)
            heights = np.asarray(HEIGHTS, dtype=np.float32)[np.maximum(classes, 1) - 1]
            dsm = np.where(classes > 0, terrain(hx, hy) + heights, NODATA_DSM).astype(np.float32)
            dst.write(dsm[None], window=win)
        dst.set_band_description(1, "DSM")


def write_sar(path: Path, cell_map: CellMap, seed: int, crs: str = SAR_CRS, res: float = 4.0) -> None:
    """Two SAR bands (VV, VH in dB: class means plus speckle) covering the HSI footprint (nodata NaN)."""
    transform, w, h = _aux_grid(cell_map, crs, res)
    rows, cols = np.mgrid[0:h, 0:w]
    classes, _, _ = _sample_aux(cell_map, crs, transform, rows, cols)
    rng = np.random.default_rng(seed + 31)
    means = rng.uniform(-22.0, -4.0, size=(2, len(CLASS_NAMES)))
    sar = means[:, np.maximum(classes, 1) - 1] + rng.normal(0.0, 0.8, size=(2, h, w))
    sar[:, classes == 0] = np.nan
    with rasterio.open(
        path,
        "w",
        **geotiff_profile(Grid(w, h, CRS.from_user_input(crs), transform), 2, "float32", float("nan")),
    ) as dst:
        dst.write(sar.astype(np.float32))
        dst.descriptions = ("VV", "VH")
