"""scene.json for the scene folders that tests and benchmarks build by hand, through the one writer.

Those folders get their rasters from rasterio directly (no `cfipt prepare`, so that they need neither
scipy nor the vector libraries); `write_test_scene_meta` describes them with `SceneDescription` and
writes scene.json with `write_scene_meta`, as prepare does (`describe_test_scene` alone for a stack
written window by window, whose statistics the caller gathers). They record no input files: `sources`
is empty and each band's `input` numbers its role (0 for the HSI, then one per auxiliary role).

Free of scipy and the vector libraries at import (the GPU machine's benchmarks use it): `io.rasters`
(which reads .mat files with scipy) is imported only by `band_statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from cfipt_cli.contracts.scene import (
    BandStatistics,
    SceneBand,
    SceneDescription,
    SplitRecord,
    TrainTest,
    write_scene_meta,
)
from cfipt_cli.io.classes import ClassTable

TEST_VERSION = "test"
TEST_CREATED = "2026-01-01T00:00:00+00:00"  # fixed, so that a test scene is the same on every run
NO_SPLIT = SplitRecord(
    mode="random", train_per_class=40, seed=0, patch_size=11, block_size=None, test_labels=None
)


def band_statistics(stack: np.ndarray, valid: np.ndarray) -> BandStatistics:
    """Per-band statistics of the valid pixels of a (bands, h, w) stack, computed as prepare does."""
    from cfipt_cli.io.rasters import RunningStats

    stats = RunningStats(stack.shape[0])
    stats.update(stack, valid)
    return BandStatistics.from_json(stats.to_json())


def scene_bands(band_sources: Sequence[str]) -> tuple[SceneBand, ...]:
    """The `bands` entries of a stack whose bands come from these roles ("hsi", "lidar", "sar")."""
    roles = list(dict.fromkeys(band_sources))
    numbers: dict[str, int] = {}
    bands = []
    for index, role in enumerate(band_sources, start=1):
        numbers[role] = numbers.get(role, 0) + 1
        bands.append(SceneBand(index, role, numbers[role], f"{role}:{numbers[role]}", roles.index(role)))
    return tuple(bands)


def label_counts(classes: ClassTable, labels: np.ndarray | None) -> dict[str, int]:
    """Pixels per class id of the table (ids as strings, 0 when absent), as scene.json counts them."""
    return {str(c): int(np.sum(labels == c)) if labels is not None else 0 for c in classes.ids}


def describe_test_scene(
    band_sources: Sequence[str],
    classes: ClassTable,
    statistics: BandStatistics,
    *,
    size: tuple[int, int],
    crs: str | None,
    transform: Affine | None,
    labels: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    split: SplitRecord = NO_SPLIT,
) -> SceneDescription:
    """The description of a hand-built folder (write it with `write_scene_meta`).

    Args:
        size: (width, height) of the grid in pixels.
        crs: the grid's CRS in any form rasterio reads ("EPSG:32633", WKT), None for a pixel grid.
        transform: the grid's transform; None for the identity (a pixel grid).
        labels: the training and test label arrays, for the counts.
    """
    from rasterio.crs import CRS

    return SceneDescription(
        width=size[0],
        height=size[1],
        crs=CRS.from_user_input(crs).to_wkt() if crs is not None else None,
        transform=tuple(transform or Affine.identity())[:6],
        bands=scene_bands(band_sources),
        sources=(),
        valid_pixels=statistics.count,
        classes=classes,
        counts=TrainTest(*(label_counts(classes, array) for array in labels)),
        labels_on_nodata=TrainTest(0, 0),
        split=split,
        statistics=statistics,
        cfipt_version=TEST_VERSION,
        created=TEST_CREATED,
    )


def write_test_scene_meta(
    root: Path,
    stack: np.ndarray,
    valid: np.ndarray | None,
    band_sources: Sequence[str],
    classes: ClassTable,
    crs: str | None,
    transform: Affine | None,
    labels: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    split: SplitRecord = NO_SPLIT,
) -> Path:
    """Write `root`/scene.json for a hand-built folder whose stack.tif holds `stack` (bands, h, w).

    `valid` marks the valid pixels (None: all of them); the other arguments as `describe_test_scene`.
    """
    valid = np.ones(stack.shape[1:], dtype=bool) if valid is None else valid
    statistics = band_statistics(stack, valid)
    size = (stack.shape[2], stack.shape[1])
    description = describe_test_scene(
        band_sources, classes, statistics, size=size, crs=crs, transform=transform, labels=labels, split=split
    )
    return write_scene_meta(root, description)
