"""A tiny benchmark in the Houston2013 layout (HSI_data.mat, LiDAR_data.mat, TRLabel.mat, TSLabel.mat)
written from a synthetic scene, and the tiny training options the study tests use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io

from cfipt_cli.testing.synthetic import make_scene
from cfipt_cli.testing.world import HEIGHTS

TINY = {
    "clip_model": "cfipt-tiny",
    "pretrained": "none",
    "epochs": 1,
    "batch_size": 16,
    "warmup_epochs": 0,
    "device": "cpu",
    "patch_size": 5,
    "prompt_length": 2,
    "prompt_depth": 1,
}


@pytest.fixture(scope="session")
def houston_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 x 24 px, 8 bands, 3 classes; training and test maps on alternate pixels (disjoint)."""
    root = tmp_path_factory.mktemp("houston")
    scene = make_scene(root / "synthetic", height=24, width=24, n_bands=8, n_classes=3, cell=8)
    with rasterio.open(scene.hsi) as src:
        cube = np.moveaxis(src.read(), 0, -1).astype(np.float64)  # (rows, cols, bands) as the .mat holds it
    dsm = np.asarray(HEIGHTS)[scene.truth - 1] + 0.1 * cube[..., 0]
    rows, cols = np.indices(scene.truth.shape)
    train = np.where((rows + cols) % 2 == 0, scene.truth, 0).astype(np.uint8)
    test = np.where((rows + cols) % 2 == 1, scene.truth, 0).astype(np.uint8)
    data = root / "data"
    data.mkdir()
    scipy.io.savemat(data / "HSI_data.mat", {"HSI_data": cube})
    scipy.io.savemat(data / "LiDAR_data.mat", {"LiDAR_data": dsm})
    scipy.io.savemat(data / "TRLabel.mat", {"TRLabel": train})
    scipy.io.savemat(data / "TSLabel.mat", {"TSLabel": test})
    return data
