"""Which pixels may be suggested: valid in the scene, neither a training nor a test pixel of it, and no
point of a validation sample given with `--exclude-sample` (labelling those for training would bias the
accuracy they estimate). Read window by window; the sample points are a handful of pixels held in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.errors import DataError
from cfipt_cli.io.rasters import Grid
from cfipt_cli.io.vectors import read_layer
from cfipt_cli.log import get_logger
from cfipt_cli.predict.blocks import Block

log = get_logger(__name__)


def sample_pixels(path: Path, grid: Grid) -> np.ndarray:
    """The flat indices (row * width + col) of the scene pixels that the points of `path` fall in."""
    frame = read_layer(path)
    if len(frame) and not (frame.geometry.geom_type == "Point").all():
        raise DataError(f"{path} is not a layer of points (a validation sample of cfipt sample is)")
    if frame.crs is not None and grid.crs is not None:
        frame = frame.to_crs(grid.crs)
    elif (frame.crs is None) != (grid.crs is None):
        raise DataError(f"{path} and the scene must both have a CRS, or neither")
    rows, cols, inside = grid.pixels_at(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    if (~inside).any():  # a sample of another area, or in a wrong CRS, would exclude nothing silently
        log.warning("%d of the %d points of %s lie outside the scene", int((~inside).sum()), len(rows), path)
    return np.unique(rows[inside] * grid.width + cols[inside])


@dataclass(frozen=True)
class EligiblePixels:
    """The scene's mask and label rasters (open) and the excluded sample pixels (flat indices)."""

    mask: Any
    labels: tuple[Any, ...]
    excluded: np.ndarray
    width: int

    def of(self, block: Block) -> np.ndarray:
        """(h, w) bool: the block's pixels that may be suggested."""
        from rasterio.windows import Window

        window = Window(block.col, block.row, block.width, block.height)
        ok = self.mask.read(1, window=window) == 1
        for labels in self.labels:
            ok &= labels.read(1, window=window) == 0
        rows, cols = np.divmod(self.excluded, self.width)
        inside = (rows >= block.row) & (rows < block.row + block.height)
        inside &= (cols >= block.col) & (cols < block.col + block.width)
        ok[rows[inside] - block.row, cols[inside] - block.col] = False
        return ok

    def count(self, blocks: list[Block]) -> int:
        return sum(int(self.of(block).sum()) for block in blocks)


@contextlib.contextmanager
def open_eligible(scene: Any, samples: tuple[Path, ...], grid: Grid) -> Iterator[EligiblePixels]:
    """The eligible pixels of the opened `scene` (a `contracts.scene.Scene`), until the block ends."""
    import rasterio

    excluded = [sample_pixels(path, grid) for path in samples]
    flat = np.unique(np.concatenate(excluded)) if excluded else np.empty(0, np.int64)
    with contextlib.ExitStack() as files:
        mask = files.enter_context(rasterio.open(scene.mask_path))
        paths = (scene.train_labels_path, scene.test_labels_path)
        labels = tuple(files.enter_context(rasterio.open(path)) for path in paths)
        yield EligiblePixels(mask, labels, flat, grid.width)
