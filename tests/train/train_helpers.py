"""Helpers of the training tests: a seeded generator of tiny scenes with separable classes, a tiny config.

Classes occupy square blocks of the scene; each has its own spectral signature across the HSI bands
and its own height in the LiDAR band, plus noise. `n_train` pixels per class go to train_labels.tif,
the rest of the labelled pixels to test_labels.tif.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

from cfipt_cli.contracts.scene import SplitRecord
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.scene_folder import HandBuiltScene, write_test_scene
from cfipt_cli.train.config import TrainConfig

CLASS_NAMES = ["Grass", "Trees", "Roads", "Water", "Buildings", "Soil"]
CRS = "EPSG:32633"
TRANSFORM = Affine(1.0, 0.0, 500000.0, 0.0, -1.0, 4000000.0)
NOISE = 0.3  # the spread of each class's bands around its signature (in units of the scales below)


def class_map(size: int, n_classes: int, rng: np.random.Generator, cell: int = 8) -> np.ndarray:
    """Class ids 1..n_classes on blocks of `cell` x `cell` pixels, each class present."""
    cells = -(-size // cell)
    grid = (np.arange(cells * cells) % n_classes + 1)[rng.permutation(cells * cells)].reshape(cells, cells)
    return np.kron(grid, np.ones((cell, cell), dtype=np.int64))[:size, :size].astype(np.uint8)


def write_scene(
    root: Path,
    *,
    size: int = 32,
    n_classes: int = 4,
    empty_class: bool = False,
    n_hsi: int = 8,
    n_train: int = 20,
    seed: int = 0,
    names: list[str] | None = None,
) -> Path:
    """Write a scene folder at `root` and return it.

    Args:
        empty_class: add a class to the class table that has no pixel at all.
        n_train: training pixels per class (0: an empty train_labels.tif).
        names: the class names, ids 1..K in this order (default: the first `n_classes` of CLASS_NAMES).
    """
    n_classes = len(names) if names is not None else n_classes
    rng = np.random.default_rng(seed)
    truth = class_map(size, n_classes, rng)
    signatures = rng.uniform(0.1, 1.0, size=(n_classes + 1, n_hsi))
    heights = np.linspace(0.0, 20.0, n_classes + 1)
    hsi = signatures[truth].transpose(2, 0, 1) + NOISE * rng.normal(size=(n_hsi, size, size)) * 0.3
    lidar = heights[truth][None] + NOISE * rng.normal(size=(1, size, size)) * 3
    stack = np.concatenate([hsi, lidar]).astype(np.float32)

    train = np.zeros_like(truth)
    for k in range(1, n_classes + 1):
        rows, cols = np.nonzero(truth == k)
        pick = rng.choice(len(rows), size=min(n_train, len(rows)), replace=False)
        train[rows[pick], cols[pick]] = k
    test = np.where(train > 0, 0, truth).astype(np.uint8)

    names = list(names) if names is not None else CLASS_NAMES[: n_classes + int(empty_class)]
    classes = ClassTable.from_json(
        [{"id": i, "name": n, "colour": "#808080"} for i, n in enumerate(names, 1)]
    )
    split = SplitRecord("random", n_train, seed, patch_size=11, block_size=None, test_labels=None)
    sources = ["hsi"] * n_hsi + ["lidar"]
    scene = HandBuiltScene(stack, sources, classes, CRS, TRANSFORM, labels=(train, test), split=split)
    return write_test_scene(root, scene)


def tiny_config(**changes) -> TrainConfig:
    """cfipt-tiny with random weights on CPU, small enough for a test to train in seconds."""
    values = {
        "clip_model": "cfipt-tiny",
        "pretrained": "none",
        "epochs": 2,
        "batch_size": 16,
        "warmup_epochs": 1,
        "lr": 2e-3,
        "device": "cpu",
        "patch_size": 5,
        "prompt_length": 2,
        "prompt_depth": 1,
        "seed": 0,
    }
    values.update(changes)
    return TrainConfig(**values)
