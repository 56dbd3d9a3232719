"""Builders of the regularize tests: class maps with a class table, and the slow reference vote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.class_raster import write_class_raster

CLASSES = ClassTable.from_json(
    [
        {"id": 1, "name": "Water", "colour": "#0000ff"},
        {"id": 2, "name": "Trees", "colour": "#00aa00"},
        {"id": 3, "name": "Roads", "colour": "#808080"},
        {"id": 7, "name": "Buildings", "colour": "#aa0000"},
    ]
)
TRANSFORM = Affine(2.0, 0.0, 500010.0, 0.0, -2.0, 4000020.0)


def write_map(path: Path, ids: np.ndarray, nodata: int = 0, classes: ClassTable | None = CLASSES) -> Path:
    """A class map as cfipt predict writes it: colour table and CategoryNames (unless `classes` None)."""
    return write_class_raster(
        path, ids, crs="EPSG:32633", transform=TRANSFORM, nodata=nodata, classes=classes, colormap=True
    )


def noisy_map(shape: tuple[int, int] = (40, 52), seed: int = 0) -> np.ndarray:
    """Four blocks of classes with 15 % salt-and-pepper noise and a nodata strip."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape)
    ids = np.choose((rows >= shape[0] // 2) * 2 + (cols >= shape[1] // 2), [1, 2, 3, 7]).astype(np.uint8)
    noise = rng.random(shape) < 0.15
    ids[noise] = rng.choice([1, 2, 3, 7], size=int(noise.sum()))
    ids[:, :3] = 0
    return ids


def ball(radius: int) -> np.ndarray:
    """ITK's BinaryBallStructuringElement of `radius` as a boolean (2 radius + 1)^2 array: the
    offsets whose pixel centre lies in the ellipse of axes 2 radius + 1 around the centre pixel's
    (`EllipsoidInteriorExteriorSpatialFunction` evaluated at pixel centres), i.e. at a Euclidean
    distance of at most radius + 0.5."""
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.hypot(dy, dx) <= radius + 0.5


def slow_majority(ids: np.ndarray, radius: int) -> np.ndarray:
    """The vote pixel by pixel: counts of the labels (0 = nodata, no vote) in the ball footprint
    clipped to the array; a unique most frequent label wins, a tie keeps the centre, nodata stays."""
    out = ids.copy()
    height, width = ids.shape
    padded = np.pad(ids, radius, constant_values=0)
    footprint = ball(radius)
    for r in range(height):
        for c in range(width):
            if ids[r, c] == 0:
                continue
            window = padded[r : r + 2 * radius + 1, c : c + 2 * radius + 1]
            votes = window[footprint & (window != 0)]
            labels, counts = np.unique(votes, return_counts=True)
            top = counts == counts.max()
            out[r, c] = labels[top][0] if top.sum() == 1 else ids[r, c]
    return out
