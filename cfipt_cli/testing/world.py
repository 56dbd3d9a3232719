"""The synthetic world of the test and demo scenes: class cells, spectra, heights, terrain.

The scene is a grid of square cells, each of one class. A class has a smooth spectral signature and a
height, so that spectra and elevation together separate the classes. Everything random derives from
the seed, each part from its own generator, so that a scene is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

CLASS_NAMES = ["Trees", "Grass", "Buildings", "Road", "Water", "Soil", "Vineyard", "Railway"]
HEIGHTS = [9.0, 0.3, 14.0, 0.0, -0.5, 0.2, 2.0, 1.0]  # metres above the terrain, per class
HSI_CRS = "EPSG:32632"
HSI_ORIGIN = (664000.0, 5104000.0)  # near Trento, UTM 32N


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


def class_at(cells: np.ndarray, cell: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Class id at fractional HSI pixel positions; 0 outside the grid."""
    r, c = np.floor(rows).astype(np.int64) // cell, np.floor(cols).astype(np.int64) // cell
    inside = (rows >= 0) & (cols >= 0) & (r < cells.shape[0]) & (c < cells.shape[1])
    out = np.zeros(rows.shape, dtype=np.int64)
    out[inside] = cells[r[inside], c[inside]]
    return out


@dataclass(frozen=True)
class CellMap:
    """The class cells of a scene on its HSI grid: a class id per cell, the cell side in HSI pixels,
    the HSI transform and size (which need not be whole cells)."""

    cells: np.ndarray
    cell: int
    transform: Affine
    height: int
    width: int


def smooth_texture(height: int, width: int, seed: int, scale: float = 1.5) -> np.ndarray:
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
