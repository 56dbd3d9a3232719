"""Scene folders that tests and benchmarks build by hand: their rasters and scene.json, through the one writer.

Those folders get their rasters from rasterio directly (no `cfipt prepare`, so that they need neither
scipy nor the vector libraries). A test describes its arrays with a `HandBuiltScene`;
`write_test_scene` writes the four rasters as prepare lays them out (uint8 mask without nodata, label
rasters with nodata 0) and scene.json with `write_scene_meta`, as prepare does (`write_test_scene_meta`
alone for a folder whose rasters are there already, `describe_test_scene` for a stack written window
by window, whose statistics the caller gathers). They record no input files: `sources` is empty and
each band's `input` numbers its role (0 for the HSI, then one per auxiliary role).

Free of scipy and the vector libraries at import (the GPU machine's benchmarks use it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from cfipt_cli.contracts.scene import (
    MASK_NAME,
    STACK_NAME,
    TEST_LABELS_NAME,
    TRAIN_LABELS_NAME,
    BandStatistics,
    SceneBand,
    SceneDescription,
    SplitRecord,
    TrainTest,
    write_scene_meta,
)
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.gtiff import geotiff_profile
from cfipt_cli.io.rasters import Grid, RunningStats

TEST_VERSION = "test"
TEST_CREATED = "2026-01-01T00:00:00+00:00"  # fixed, so that a test scene is the same on every run
NO_SPLIT = SplitRecord(
    mode="random", train_per_class=40, seed=0, patch_size=11, block_size=None, test_labels=None
)
# Small tiles, so that the block-wise readers meet several blocks and ragged edges even in a tiny scene.
TILES = {"tiled": True, "blockxsize": 16, "blockysize": 16}


@dataclass(frozen=True, eq=False)
class HandBuiltScene:
    """What a hand-built scene folder holds: arrays on one grid, the role of each band, the classes."""

    stack: np.ndarray  # (bands, h, w) float32, NaN where a pixel is invalid
    band_sources: Sequence[str]  # the role of each band: "hsi", "lidar" or "sar"
    classes: ClassTable
    crs: str | None  # in any form rasterio reads ("EPSG:32633", WKT); None for a pixel grid
    transform: Affine | None  # None for the identity (a pixel grid)
    valid: np.ndarray | None = None  # (h, w) the valid pixels; None: all of them
    labels: tuple[np.ndarray | None, np.ndarray | None] = (None, None)  # training, test class ids
    split: SplitRecord = NO_SPLIT

    @property
    def valid_pixels(self) -> np.ndarray:
        return np.ones(self.stack.shape[1:], dtype=bool) if self.valid is None else self.valid

    @property
    def grid(self) -> Grid:
        crs = CRS.from_user_input(self.crs) if self.crs is not None else None
        return Grid(self.stack.shape[2], self.stack.shape[1], crs, self.transform or Affine.identity())


def band_statistics(stack: np.ndarray, valid: np.ndarray) -> BandStatistics:
    """Per-band statistics of the valid pixels of a (bands, h, w) stack, computed as prepare does."""
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


def write_test_scene_meta(root: Path, scene: HandBuiltScene) -> Path:
    """Write `root`/scene.json for a hand-built folder whose stack.tif holds `scene.stack`."""
    statistics = band_statistics(scene.stack, scene.valid_pixels)
    description = describe_test_scene(
        scene.band_sources,
        scene.classes,
        statistics,
        size=(scene.grid.width, scene.grid.height),
        crs=scene.crs,
        transform=scene.transform,
        labels=scene.labels,
        split=scene.split,
    )
    return write_scene_meta(root, description)


def write_test_scene(root: Path, scene: HandBuiltScene) -> Path:
    """Write the scene folder `root` (created, returned): stack.tif, mask.tif, the label rasters and
    scene.json. A label raster given as None is written as zeros."""
    grid = scene.grid
    nothing = np.zeros((grid.height, grid.width), dtype=np.uint8)
    train, test = (nothing if labels is None else labels for labels in scene.labels)
    rasters = (
        (STACK_NAME, scene.stack, float("nan")),
        (MASK_NAME, scene.valid_pixels.astype(np.uint8)[None], None),
        (TRAIN_LABELS_NAME, train[None], 0),
        (TEST_LABELS_NAME, test[None], 0),
    )
    root.mkdir(parents=True, exist_ok=True)
    for name, data, nodata in rasters:
        profile = geotiff_profile(grid, data.shape[0], data.dtype.name, nodata, TILES)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a pixel grid on purpose
            with rasterio.open(root / name, "w", **profile) as dst:
                dst.write(data)
    write_test_scene_meta(root, scene)
    return root
