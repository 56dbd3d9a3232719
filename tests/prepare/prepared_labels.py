"""Helpers of the prepare tests: prepare the synthetic scene with a label layer, read the labels back.

A module with a unique name (not conftest) so that test modules can import it whatever else pytest
collects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.prepare.pipeline import prepare_scene
from cfipt_cli.testing.synthetic import SyntheticScene


def prepare_labelled(
    files: SyntheticScene, out: Path, labels: Path, field: str | None, **options: Any
) -> Scene:
    """`prepare_scene` of the synthetic HSI + DSM with these labels (`field`: their class column)."""
    prepare_scene(files.hsi, lidar=[files.lidar], labels=labels, label_field=field, out=out, **options)
    return Scene.open(out)


def label_rasters(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """The training and the test label rasters of a prepared scene."""
    with rasterio.open(scene.train_labels_path) as a, rasterio.open(scene.test_labels_path) as b:
        return a.read(1), b.read(1)
