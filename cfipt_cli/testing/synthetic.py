"""Seeded synthetic scenes: tiny georeferenced HSI + LiDAR (+ SAR) with labels, for tests and the demo.

The scene is a grid of square cells, each of one class. A class has a smooth spectral signature and a
height, so that spectra and elevation together separate the classes. The HSI is written on its own grid
(default EPSG:32632, 2 m); the LiDAR DSM and the SAR are written in other CRSs at other resolutions by
sampling the class map at their pixel centres (exact, no resampling of the HSI), so that
co-registration has real work to do. Labels come as GeoPackage polygons (one per labelled cell, inset
by 0.3 px, stored in EPSG:4326), GeoPackage points (pixel centres, EPSG:4326) and a label raster on the
HSI grid. `write_large_scene` writes a big scene window by window for the memory benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as transform_coords
from rasterio.warp import transform_bounds

from cfipt_cli.io.gtiff import geotiff_profile
from cfipt_cli.io.rasters import Grid, iter_windows

CLASS_NAMES = ["Trees", "Grass", "Buildings", "Road", "Water", "Soil", "Vineyard", "Railway"]
HEIGHTS = [9.0, 0.3, 14.0, 0.0, -0.5, 0.2, 2.0, 1.0]  # metres above the terrain, per class
HSI_CRS = "EPSG:32632"
HSI_ORIGIN = (664000.0, 5104000.0)  # near Trento, UTM 32N
LIDAR_CRS = "EPSG:32633"  # the neighbouring UTM zone: the grids are rotated by about 3 degrees
SAR_CRS = "EPSG:3857"
LABELS_CRS = "EPSG:4326"
NODATA_DSM = -9999.0


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


def from_origin(west: float, north: float, xres: float, yres: float) -> Affine:
    """A north-up transform (rasterio.transform.from_origin without its deprecated operator)."""
    return Affine(xres, 0.0, west, 0.0, -yres, north)


def class_signatures(n_classes: int, n_bands: int, seed: int) -> np.ndarray:
    """(K, C) smooth, distinct reflectance curves in 0.05..0.7 (a few Gaussian bumps each)."""
    rng = np.random.default_rng(seed + 101)
    wavelengths = np.linspace(0.0, 1.0, n_bands)
    curves = np.empty((n_classes, n_bands))
    for k in range(n_classes):
        base = rng.uniform(0.1, 0.3)
        centres, widths, amps = rng.uniform(0, 1, 3), rng.uniform(0.08, 0.3, 3), rng.uniform(-0.15, 0.35, 3)
        bumps = amps[:, None] * np.exp(-0.5 * ((wavelengths[None] - centres[:, None]) / widths[:, None]) ** 2)
        curves[k] = base + bumps.sum(axis=0)
    return np.clip(curves, 0.05, 0.7).astype(np.float32)


def cell_classes(n_rows: int, n_cols: int, n_classes: int, seed: int) -> np.ndarray:
    """(n_rows, n_cols) class ids 1..K per cell; every class appears when there are enough cells."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(1, n_classes + 1, size=n_rows * n_cols)
    cells[: min(n_classes, cells.size)] = np.arange(1, min(n_classes, cells.size) + 1)
    return rng.permutation(cells).reshape(n_rows, n_cols)


def _class_at(cells: np.ndarray, cell: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Class id at fractional HSI pixel positions; 0 outside the grid."""
    r, c = np.floor(rows).astype(np.int64) // cell, np.floor(cols).astype(np.int64) // cell
    inside = (rows >= 0) & (cols >= 0) & (r < cells.shape[0]) & (c < cells.shape[1])
    out = np.zeros(rows.shape, dtype=np.int64)
    out[inside] = cells[r[inside], c[inside]]
    return out


def _texture(height: int, width: int, seed: int, scale: float = 1.5) -> np.ndarray:
    """A smooth random field (zero mean, unit std) so that neighbouring pixels differ."""
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(np.random.default_rng(seed + 7).normal(size=(height, width)), scale)
    return ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)


def terrain(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A gentle slope plus waves (metres), a function of map coordinates in the HSI CRS."""
    dx, dy = x - HSI_ORIGIN[0], y - HSI_ORIGIN[1]
    return (200.0 + 0.02 * dx - 0.01 * dy + 1.5 * np.sin(dx / 23.0) * np.cos(dy / 17.0)).astype(np.float32)


def hsi_block(
    classes: np.ndarray,
    signatures: np.ndarray,
    texture: np.ndarray,
    rng: np.random.Generator,
    noise: float = 0.01,
) -> np.ndarray:
    """(C, h, w) float32 reflectance: class signature, scaled by a texture, plus noise; 0 = outside."""
    cube = signatures[np.maximum(classes, 1) - 1].transpose(2, 0, 1) * (1.0 + 0.08 * texture)[None]
    cube = cube + rng.normal(0.0, noise, size=cube.shape).astype(np.float32)
    cube[:, classes == 0] = 0.0
    return cube.astype(np.float32)


def _aux_grid(
    hsi_transform: Affine, height: int, width: int, crs: str, res: float
) -> tuple[Affine, int, int]:
    left, top = hsi_transform.c, hsi_transform.f
    right, bottom = left + width * hsi_transform.a, top + height * hsi_transform.e
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
    cells: np.ndarray,
    cell: int,
    hsi_transform: Affine,
    crs: str,
    transform: Affine,
    rows: np.ndarray,
    cols: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class id and HSI-CRS coordinates at aux pixel centres (rows, cols of the aux grid)."""
    xs, ys = _apply(transform, cols + 0.5, rows + 0.5)
    hx, hy = transform_coords(crs, HSI_CRS, xs.ravel(), ys.ravel())
    hx, hy = np.asarray(hx).reshape(xs.shape), np.asarray(hy).reshape(xs.shape)
    fc, fr = _apply(~hsi_transform, hx, hy)
    # Clamp to the HSI grid: the auxiliary rasters extend the edge cells, as real acquisitions overlap.
    n_rows, n_cols = cells.shape[0] * cell, cells.shape[1] * cell
    fr = np.clip(np.asarray(fr), 0.0, n_rows - 1e-6)
    fc = np.clip(np.asarray(fc), 0.0, n_cols - 1e-6)
    return _class_at(cells, cell, fr, fc), hx, hy


def write_dsm(
    path: Path,
    cells: np.ndarray,
    cell: int,
    hsi_transform: Affine,
    height: int,
    width: int,
    crs: str = LIDAR_CRS,
    res: float = 3.0,
    window: int = 512,
) -> None:
    """A DSM (terrain + class height) in `crs` at `res` metres, covering the HSI footprint (nodata -9999)."""
    transform, w, h = _aux_grid(hsi_transform, height, width, crs, res)
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
            classes, hx, hy = _sample_aux(cells, cell, hsi_transform, crs, transform, rows, cols)
            heights = np.asarray(HEIGHTS, dtype=np.float32)[np.maximum(classes, 1) - 1]
            dsm = np.where(classes > 0, terrain(hx, hy) + heights, NODATA_DSM).astype(np.float32)
            dst.write(dsm[None], window=win)
        dst.set_band_description(1, "DSM")


def write_sar(
    path: Path,
    cells: np.ndarray,
    cell: int,
    hsi_transform: Affine,
    height: int,
    width: int,
    seed: int,
    crs: str = SAR_CRS,
    res: float = 4.0,
) -> None:
    """Two SAR bands (VV, VH in dB: class means plus speckle) covering the HSI footprint (nodata NaN)."""
    transform, w, h = _aux_grid(hsi_transform, height, width, crs, res)
    rows, cols = np.mgrid[0:h, 0:w]
    classes, _, _ = _sample_aux(cells, cell, hsi_transform, crs, transform, rows, cols)
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


def _write_hsi(path: Path, cube: np.ndarray, transform: Affine, crs: str | None) -> None:
    grid = Grid(cube.shape[2], cube.shape[1], CRS.from_user_input(crs) if crs else None, transform)
    profile = geotiff_profile(grid, cube.shape[0], "float32", float("nan"))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cube)


def _cell_polygons(
    cells: np.ndarray, cell: int, labelled: np.ndarray, transform: Affine, names: Sequence[str]
) -> Any:
    import geopandas as gpd
    from shapely.geometry import box

    inset = 0.3  # pixels: every pixel centre of the cell stays inside after reprojection
    records, geoms = [], []
    for r, c in np.argwhere(labelled).tolist():
        x0, y0 = transform @ (c * cell + inset, r * cell + inset)
        x1, y1 = transform @ ((c + 1) * cell - inset, (r + 1) * cell - inset)
        geoms.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        class_id = int(cells[r, c])
        records.append({"class": names[class_id - 1], "class_id": class_id})
    return gpd.GeoDataFrame(records, geometry=geoms, crs=HSI_CRS).to_crs(LABELS_CRS)


def _points(truth: np.ndarray, transform: Affine, names: Sequence[str], per_class: int, seed: int) -> Any:
    import geopandas as gpd
    from shapely.geometry import Point

    rng = np.random.default_rng(seed + 13)
    rows, cols, classes = [], [], []
    for class_id in range(1, len(names) + 1):
        rr, cc = np.nonzero(truth == class_id)
        pick = rng.choice(rr.size, size=min(per_class, rr.size), replace=False)
        rows += rr[pick].tolist()
        cols += cc[pick].tolist()
        classes += [class_id] * pick.size
    xy = [transform @ (c + 0.5, r + 0.5) for r, c in zip(rows, cols, strict=True)]
    gdf = gpd.GeoDataFrame(
        {"class": [names[k - 1] for k in classes], "class_id": classes},
        geometry=[Point(x, y) for x, y in xy],
        crs=HSI_CRS,
    ).to_crs(LABELS_CRS)
    return gdf, np.array(rows), np.array(cols), np.array(classes)


def make_scene(
    root: str | Path,
    height: int = 48,
    width: int = 40,
    n_bands: int = 16,
    n_classes: int = 4,
    seed: int = 0,
    cell: int = 8,
    res: float = 2.0,
    lidar_res: float = 3.0,
    with_sar: bool = False,
    class_names: Sequence[str] | None = None,
    labelled_fraction: float = 0.6,
) -> SyntheticScene:
    """Write a small synthetic scene into `root` and return its paths and ground truth.

    Args:
        root: output folder (created).
        height, width: HSI size in pixels (multiples of `cell` keep every cell whole).
        n_bands: HSI bands.
        n_classes: classes (at most 8 named ones unless `class_names` is given).
        seed: everything random derives from it.
        cell: side of the square single-class cells, in HSI pixels.
        res: HSI pixel size (m); lidar_res: DSM pixel size in its own CRS.
        with_sar: also write a 2-band SAR raster in EPSG:3857.
        class_names: names of the classes (default: CLASS_NAMES).
        labelled_fraction: share of cells that get a label polygon.
    """
    out = Path(root)
    out.mkdir(parents=True, exist_ok=True)
    names = list(class_names or CLASS_NAMES)[:n_classes]
    transform = from_origin(HSI_ORIGIN[0], HSI_ORIGIN[1], res, res)
    cells = cell_classes(-(-height // cell), -(-width // cell), n_classes, seed)
    rows, cols = np.mgrid[0:height, 0:width]
    truth = _class_at(cells, cell, rows + 0.5, cols + 0.5)
    rng = np.random.default_rng(seed)
    cube = hsi_block(truth, class_signatures(n_classes, n_bands, seed), _texture(height, width, seed), rng)
    _write_hsi(out / "hsi.tif", cube, transform, HSI_CRS)
    write_dsm(out / "lidar.tif", cells, cell, transform, height, width, res=lidar_res)
    sar_path = out / "sar.tif" if with_sar else None
    if sar_path is not None:
        write_sar(sar_path, cells, cell, transform, height, width, seed)
    labelled = np.random.default_rng(seed + 5).random(cells.shape) < labelled_fraction
    for class_id in range(1, n_classes + 1):  # every class gets at least one labelled cell
        where = np.argwhere(cells == class_id)
        if where.size and not labelled[cells == class_id].any():
            labelled[tuple(where[0])] = True
    _cell_polygons(cells, cell, labelled, transform, names).to_file(out / "labels.gpkg", driver="GPKG")
    polygon_truth = np.where(labelled[rows // cell, cols // cell], truth, 0)
    points, p_rows, p_cols, p_classes = _points(truth, transform, names, 6, seed)
    points.to_file(out / "points.gpkg", driver="GPKG")
    label_path = out / "label_raster.tif"
    with rasterio.open(
        label_path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="uint8",
        crs=HSI_CRS,
        transform=transform,
        nodata=0,
    ) as dst:
        dst.write(polygon_truth.astype(np.uint8)[None])
    return SyntheticScene(
        out,
        out / "hsi.tif",
        out / "lidar.tif",
        sar_path,
        out / "labels.gpkg",
        out / "points.gpkg",
        label_path,
        truth,
        polygon_truth,
        p_rows,
        p_cols,
        p_classes,
        names,
        transform,
        HSI_CRS,
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
            classes = _class_at(cells, cell, rows + 0.5, cols + 0.5)
            texture = rng.normal(0.0, 1.0, size=classes.shape).astype(np.float32)
            block = hsi_block(classes, signatures, texture, rng)
            dst.write(np.round(block * 10000).astype(np.int16), window=win)
    write_dsm(out / "lidar.tif", cells, cell, transform, height, width, res=2.0, window=window)
    labelled = np.zeros(cells.size, dtype=bool)
    labelled[
        np.random.default_rng(seed + 5).choice(cells.size, size=min(n_polygons, cells.size), replace=False)
    ] = True
    names = CLASS_NAMES[:n_classes]
    _cell_polygons(cells, cell, labelled.reshape(cells.shape), transform, names).to_file(
        out / "labels.gpkg", driver="GPKG"
    )
    return {"hsi": out / "hsi.tif", "lidar": out / "lidar.tif", "labels": out / "labels.gpkg"}
