"""Builders of tiny maps, label rasters and scene folders for the evaluate tests.

Written with rasterio directly (scene folders through `cfipt_cli.testing.scene_folder`), so that these
tests depend on no other cfipt command. A module with a unique name (not conftest) so that test modules
can import it whatever else pytest collects.

`crs=None, transform=None` writes a plain pixel grid the way `cfipt prepare` and `cfipt predict` do for
.mat inputs: no CRS and no geotransform at all (rasterio warns NotGeoreferencedWarning when it opens one).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from affine import Affine

from cfipt_cli.evaluate.pipeline import evaluate_map
from cfipt_cli.evaluate.request import EvaluationRequest
from cfipt_cli.evaluate.result import EvaluationResult
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.class_raster import write_class_raster
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene

UTM = "EPSG:32618"
# A 10 m grid in UTM 18N (the area of the rasterio sample files).
GRID_TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4100000.0)
# ../shared/data next to the repository: small real benchmark files (see its README.md).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of the shared real-data folder; the calling test is skipped when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data file {path} is not available")
    return path


def write_v73(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """A MATLAB v7.3 file: HDF5 with a 512-byte text header, arrays stored column-major (axes reversed)."""
    with h5py.File(path, "w", userblock_size=512) as h5:
        for key, value in arrays.items():
            h5.create_dataset(key, data=np.asarray(value).T)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .")
    return path


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    crs: str | None = UTM,
    transform: Affine | None = GRID_TRANSFORM,
    nodata: float | None = 0,
    classes: ClassTable | None = None,
) -> Path:
    """A one-band GeoTIFF on this folder's default grid (`write_class_raster`)."""
    return write_class_raster(path, array, crs=crs, transform=transform, nodata=nodata, classes=classes)


def write_scene(
    folder: Path,
    test_labels: np.ndarray,
    train_labels: np.ndarray,
    classes: ClassTable,
    *,
    crs: str | None = UTM,
    transform: Affine | None = GRID_TRANSFORM,
) -> Path:
    """A scene folder with the keys of docs/architecture.md and the four rasters (a 2-band stack)."""
    folder.mkdir(parents=True)
    stack = np.random.default_rng(0).random((2, *test_labels.shape), dtype=np.float32)
    labels = (train_labels, test_labels)
    scene = HandBuiltScene(stack, ["hsi", "lidar"], classes, crs, transform, labels=labels)
    return write_test_scene(folder, scene)


def perturb(labels: np.ndarray, n_classes: int, rate: float, seed: int) -> np.ndarray:
    """A copy of `labels` (classes 1..n_classes, 0 kept) with a `rate` share of pixels set to another class."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    flip = (rng.random(labels.shape) < rate) & (labels > 0)
    shift = rng.integers(1, n_classes, size=labels.shape)
    out[flip] = ((labels[flip].astype(np.int64) - 1 + shift[flip]) % n_classes + 1).astype(labels.dtype)
    return out


def evaluate(map_path: Path, reference: Path, **options: Any) -> EvaluationResult:
    """`evaluate_map` of an `EvaluationRequest` made of these arguments."""
    return evaluate_map(EvaluationRequest(map_path, reference, **options))
