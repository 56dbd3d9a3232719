"""Builders of tiny class maps and scene folders for the sample tests (rasterio directly, no other
command). A module with a unique name (not conftest) so that test modules can import it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.class_raster import write_class_raster
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene

UTM = "EPSG:32618"
TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4100000.0)  # 10 m pixels: 100 m2
NAMES = ["Water", "Trees", "Grass", "Road"]


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    crs: str | None = UTM,
    transform: Affine = TRANSFORM,
    nodata: float | None = 0,
    classes: ClassTable | None = None,
    colormap: bool = False,
) -> Path:
    """A one-band GeoTIFF on this folder's default grid (`write_class_raster`)."""
    return write_class_raster(
        path, array, crs=crs, transform=transform, nodata=nodata, classes=classes, colormap=colormap
    )


def class_map(seed: int = 0, shape: tuple[int, int] = (60, 70)) -> np.ndarray:
    """Classes 1..4 in unequal shares (Road rare), with nodata (0) and a stray value 9 here and there."""
    rng = np.random.default_rng(seed)
    values = rng.choice([0, 1, 2, 3, 4, 9], size=shape, p=[0.1, 0.15, 0.45, 0.25, 0.04, 0.01])
    return values.astype(np.uint8)


def write_scene(folder: Path, train: np.ndarray, test: np.ndarray, classes: ClassTable, **grid: Any) -> Path:
    """A prepared scene folder (2-band stack, mask, label rasters, scene.json) on the given grid."""
    stack = np.random.default_rng(0).random((2, *train.shape), dtype=np.float32)
    scene = HandBuiltScene(
        stack=stack,
        band_sources=["hsi", "lidar"],
        classes=classes,
        crs=grid.get("crs", UTM),
        transform=grid.get("transform", TRANSFORM),
        labels=(train, test),
    )
    return write_test_scene(folder, scene)
