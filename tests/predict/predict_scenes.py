"""Seeded builders of tiny scene folders and model folders for the predict tests.

Written by the hand-built folder writers of `cfipt_cli.testing`, so these tests depend on neither
`cfipt prepare` nor `cfipt train`. Scenes are deliberately not square and not a multiple of any block size, in a
projected CRS with a non-trivial origin, and may have nodata pixels (NaN in every band, 0 in the mask).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.model_folder import write_untrained_model
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene

CRS = "EPSG:32633"
TRANSFORM = Affine(2.0, 0.0, 500010.0, 0.0, -2.0, 4000020.0)
CLASS_NAMES = ["Grass", "Trees", "Roads", "Water", "Buildings", "Soil"]
# A small CFIPTConfig (cfipt-tiny backbone, random weights); the scene gives its bands and classes.
TINY_NETWORK = {"clip_model": "cfipt-tiny", "n_prompt": 2, "depth": 2}


def write_scene(
    root: Path,
    *,
    height: int = 19,
    width: int = 23,
    n_hsi: int = 4,
    aux: Sequence[str] = ("lidar",),
    n_classes: int = 3,
    nodata_fraction: float = 0.0,
    seed: int = 0,
    sparse_labels: bool = False,
) -> Path:
    """Write a scene folder (scene.json, stack.tif, mask.tif, label rasters) and return its path.

    `aux`: the role of each auxiliary band after the HSI bands ("lidar" or "sar"). Every valid pixel is
    a training and a test pixel; with `sparse_labels`, a fifth of them train, a third test (disjoint),
    and the rest are unlabelled.
    """
    rng = np.random.default_rng(seed)
    sources = ["hsi"] * n_hsi + list(aux)
    stack = rng.normal(size=(len(sources), height, width)).astype(np.float32) * 3 + 10
    valid = rng.random((height, width)) >= nodata_fraction
    stack[:, ~valid] = np.nan
    labels = np.where(valid, rng.integers(1, n_classes + 1, size=(height, width)), 0).astype(np.uint8)
    classes = ClassTable.from_json(class_table_json(n_classes))
    train = test = labels
    if sparse_labels:
        draw = rng.random((height, width))
        train, test = np.where(draw < 0.2, labels, 0), np.where(draw > 2 / 3, labels, 0)
    scene = HandBuiltScene(stack, sources, classes, CRS, TRANSFORM, valid, labels=(train, test))
    return write_test_scene(root, scene)


def class_table_json(n_classes: int) -> list[dict[str, Any]]:
    """Classes with ids 2, 4, 6, ... (not 1..K, so that index -> id mapping is exercised)."""
    return [
        {
            "id": 2 * (k + 1),
            "name": CLASS_NAMES[k],
            "colour": f"#{40 * k + 30:02x}{200 - 50 * k:02x}{60 + 60 * k:02x}",
        }
        for k in range(n_classes)
    ]


def read_stack(scene: Path) -> np.ndarray:
    """The whole stack (bands, h, w) of a tiny test scene."""
    with rasterio.open(scene / "stack.tif") as src:
        return src.read()


def write_model(root: Path, scene: Path, patch_size: int = 5, seed: int = 0) -> Path:
    """A complete model folder for `scene`, as `cfipt train` writes it, with untrained random weights."""
    return write_untrained_model(root, Scene.open(scene), {**TINY_NETWORK, "patch_size": patch_size}, seed)
