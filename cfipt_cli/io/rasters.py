"""Raster inputs of `cfipt prepare`: any GDAL raster or a benchmark .mat array, read window by window.

A `RasterSource` hides the difference: GDAL rasters keep their CRS, transform and nodata; .mat arrays
are on a plain pixel grid (no CRS, identity transform) and have no nodata unless one is given.
A GDAL raster with a geotransform but no CRS is also treated as a pixel grid.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from cfipt_cli.errors import DataError, InputNotFoundError
from cfipt_cli.io.matfiles import MatArray, is_mat, open_mat

METRE_UNITS = ("metre", "meter", "metres", "meters", "m")  # how GDAL / PROJ spell a CRS in metres
DEFAULT_WINDOW = 512  # a multiple of the 256-pixel output tiles, so windows never split a tile


@dataclass(frozen=True)
class Grid:
    """A raster grid: size, CRS (None for a plain pixel grid) and affine transform."""

    width: int
    height: int
    crs: CRS | None
    transform: Affine

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in grid CRS units."""
        return self.window_bounds(Window(0, 0, self.width, self.height))

    def window_transform(self, window: Window) -> Affine:
        """Transform of a window of this grid."""
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of a window of this grid."""
        c0, r0 = window.col_off, window.row_off
        c1, r1 = c0 + window.width, r0 + window.height
        corners = [self.transform @ (c, r) for c, r in ((c0, r0), (c1, r0), (c0, r1), (c1, r1))]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        return (min(xs), min(ys), max(xs), max(ys))

    def pixel_centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in the grid's CRS of the centres of the pixels (rows, cols)."""
        t = self.transform
        rows, cols = np.asarray(rows) + 0.5, np.asarray(cols) + 0.5
        return t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows

    def pixels_at(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, inside): the pixel each point (x, y) of the grid's CRS falls in, and whether it
        lies on the grid at all (rows and cols of points outside are outside the grid's range)."""
        cols_f, rows_f = ~self.transform * (np.asarray(xs), np.asarray(ys))
        rows, cols = np.floor(rows_f).astype(np.int64), np.floor(cols_f).astype(np.int64)
        inside = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        return rows, cols, inside

    def resolution(self) -> tuple[float, float]:
        """Pixel size (x, y), positive."""
        return (abs(self.transform.a), abs(self.transform.e))

    @property
    def pixel_area_m2(self) -> float | None:
        """The area of one pixel in m^2 (|a e - b d|) when the CRS is projected in metres, else None
        (degrees, feet or a plain pixel grid: no area in m^2 without reprojection)."""
        crs = self.crs
        if crs is None or not crs.is_projected or (crs.linear_units or "").lower() not in METRE_UNITS:
            return None
        t = self.transform
        return abs(t.a * t.e - t.b * t.d)


def iter_windows(height: int, width: int, size: int = DEFAULT_WINDOW) -> Iterator[Window]:
    """Row-major square windows of `size` pixels covering the grid (smaller at the right/bottom edges)."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


def window_slices(window: Window) -> tuple[int, int, int, int]:
    """(row_off, col_off, height, width) of a window, as ints."""
    return int(window.row_off), int(window.col_off), int(window.height), int(window.width)


@dataclass
class RasterSource:
    """One opened raster input (GDAL dataset or .mat array) with its role in the scene.

    Attributes:
        role: "hsi", "lidar", "sar" or "labels".
        path: the input file.
        grid: its own grid (size, CRS, transform).
        count: number of bands.
        nodata: value marking invalid pixels (None: only NaN/inf are invalid).
        dtype: the stored data type.
        dataset: the open rasterio dataset, or None for a .mat array.
        mat: the .mat array, or None for a GDAL raster.
    """

    role: str
    path: Path
    grid: Grid
    count: int
    nodata: float | None
    dtype: np.dtype
    dataset: Any = None
    mat: MatArray | None = None
    descriptions: list[str | None] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "mat" if self.mat is not None else "gdal"

    def read(self, window: Window) -> np.ndarray:
        """Raw values (count, h, w) of a window of this source's own grid."""
        if self.mat is not None:
            return self.mat.read(*window_slices(window))
        try:
            return np.asarray(self.dataset.read(window=window))
        except RasterioIOError as exc:
            raise DataError(f"cannot read {self.path} (corrupt or truncated raster?): {exc}") from exc

    def read_float(self, window: Window) -> np.ndarray:
        """Window as float32 (count, h, w) with NaN where the value is nodata or not finite."""
        block = self.read(window).astype(np.float32)
        if self.nodata is not None and not np.isnan(self.nodata):
            block[block == np.float32(self.nodata)] = np.nan
        block[~np.isfinite(block)] = np.nan
        return block

    def close(self) -> None:
        """Release the file handle."""
        if self.dataset is not None:
            self.dataset.close()
        if self.mat is not None:
            self.mat.close()


def _open_gdal(path: Path, role: str, nodata: float | None) -> RasterSource:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except RasterioIOError as exc:
        raise DataError(f"cannot read {path} as a raster: {exc}") from exc
    crs = dataset.crs if dataset.crs else None
    transform = dataset.transform if crs is not None else Affine.identity()
    grid = Grid(dataset.width, dataset.height, crs, transform)
    file_nodata = dataset.nodata
    return RasterSource(
        role=role,
        path=path,
        grid=grid,
        count=dataset.count,
        nodata=nodata if nodata is not None else file_nodata,
        dtype=np.dtype(dataset.dtypes[0]),
        dataset=dataset,
        descriptions=list(dataset.descriptions),
    )


def _open_matfile(path: Path, role: str, nodata: float | None, mat_keys: Sequence[str]) -> RasterSource:
    mat = open_mat(path, mat_keys)
    bands, rows, cols = mat.shape
    grid = Grid(cols, rows, None, Affine.identity())
    return RasterSource(role, path, grid, bands, nodata, mat.dtype, mat=mat, descriptions=[None] * bands)


def open_raster(
    path: str | Path, role: str, nodata: float | None = None, mat_keys: Sequence[str] = ()
) -> RasterSource:
    """Open a GDAL raster or a .mat array as a `RasterSource`.

    Args:
        path: the file.
        role: "hsi", "lidar", "sar" or "labels" (used in messages and band descriptions).
        nodata: overrides the file's nodata value.
        mat_keys: keys to look for first in a .mat file (see `cfipt_cli.io.matfiles`).

    Raises:
        InputNotFoundError: the file does not exist.
        DataError: the file is not a readable raster.
    """
    file_path = Path(path)
    if not file_path.exists():
        raise InputNotFoundError(f"{role} input {file_path} does not exist")
    if is_mat(file_path):
        return _open_matfile(file_path, role, nodata, mat_keys)
    return _open_gdal(file_path, role, nodata)


def crs_label(crs: CRS | None) -> str:
    """A short human name for a CRS: 'EPSG:32633', its name, or 'none (pixel grid)'."""
    if crs is None:
        return "none (pixel grid)"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else str(crs.to_string())[:60]


class RunningStats:
    """Per-band count, mean, std, min and max over valid pixels, merged window by window.

    Uses the pairwise update of Chan et al. with float64 accumulators, which stays exact enough for
    bands whose mean is large compared with their spread (e.g. elevations).
    """

    def __init__(self, n_bands: int):
        self.count = 0
        self.mean = np.zeros(n_bands, dtype=np.float64)
        self.m2 = np.zeros(n_bands, dtype=np.float64)
        self.min = np.full(n_bands, np.inf)
        self.max = np.full(n_bands, -np.inf)

    def update(self, block: np.ndarray, valid: np.ndarray) -> None:
        """Add the valid pixels (`valid` is (h, w) bool) of a (bands, h, w) block."""
        n = int(valid.sum())
        if n == 0:
            return
        total = self.count + n
        for band in range(block.shape[0]):
            values = block[band][valid].astype(np.float64)
            mean = values.mean()
            m2 = float(np.square(values - mean).sum())
            delta = mean - self.mean[band]
            self.mean[band] += delta * n / total
            self.m2[band] += m2 + delta * delta * self.count * n / total
            self.min[band] = min(self.min[band], values.min())
            self.max[band] = max(self.max[band], values.max())
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per band (0 where there is no valid pixel)."""
        return np.sqrt(self.m2 / self.count) if self.count else np.zeros_like(self.m2)

    def to_json(self) -> dict[str, Any]:
        """{"mean", "std", "min", "max": per band lists, "count": valid pixels}."""
        finite = self.count > 0
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "min": self.min.tolist() if finite else [None] * self.min.size,
            "max": self.max.tolist() if finite else [None] * self.max.size,
            "count": int(self.count),
        }
