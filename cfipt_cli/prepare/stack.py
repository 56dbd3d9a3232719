"""The windowed pass of prepare: stack.tif and mask.tif written window by window.

Each window of the HSI grid is read, every auxiliary source is warped onto it, the valid mask (valid in
every band of every source) and the streaming per-band statistics are updated, and the window is
written. Only the labelled pixels (flat indices and class ids) are kept in memory, for the split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from cfipt_cli.contracts.scene import MASK_NAME, STACK_NAME
from cfipt_cli.errors import DataError
from cfipt_cli.io.coreg import align
from cfipt_cli.io.creation_options import probe_creation_options
from cfipt_cli.io.gtiff import geotiff_profile
from cfipt_cli.io.rasters import Grid, RunningStats, iter_windows, window_slices
from cfipt_cli.prepare.inputs import OpenedInputs
from cfipt_cli.prepare.labels import LabelSource
from cfipt_cli.prepare.merged_labels import MergedLabels

TILE = 256
STACK_OPTIONS = {
    "TILED": "YES",
    "BLOCKXSIZE": str(TILE),
    "BLOCKYSIZE": str(TILE),
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "3",
    "BIGTIFF": "IF_SAFER",
    "INTERLEAVE": "PIXEL",
}
SMALL_OPTIONS = {"TILED": "YES", "BLOCKXSIZE": str(TILE), "BLOCKYSIZE": str(TILE), "COMPRESS": "DEFLATE"}


@dataclass
class LabelPixels:
    """Labelled pixels met in the windowed pass: valid ones kept, the rest counted."""

    index: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    on_nodata: int = 0

    def add(self, labels: np.ndarray, valid: np.ndarray, row_off: int, col_off: int, width: int) -> None:
        labelled = labels > 0
        self.seen.update(np.unique(labels[labelled]).tolist())
        self.on_nodata += int(np.sum(labelled & ~valid))
        rows, cols = np.nonzero(labelled & valid)
        self.index.append((rows + row_off).astype(np.int64) * width + (cols + col_off))
        self.classes.append(labels[rows, cols].astype(np.uint16))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.index:
            return np.zeros(0, np.int64), np.zeros(0, np.uint16)
        return np.concatenate(self.index), np.concatenate(self.classes)


@dataclass
class PassResult:
    """What the windowed pass learnt: statistics, valid pixels per band and in all, labelled pixels."""

    stats: RunningStats
    band_valid: np.ndarray
    valid_pixels: int
    train: LabelPixels
    test: LabelPixels


def stack_profile(grid: Grid, n_bands: int, creation: dict[str, str]) -> dict[str, Any]:
    """The GTiff profile of stack.tif: float32, NaN nodata, STACK_OPTIONS under the user's `--co`."""
    return geotiff_profile(grid, n_bands, "float32", float("nan"), {**STACK_OPTIONS, **creation})


def probe_stack_options(grid: Grid, n_bands: int, creation: dict[str, str]) -> None:
    """GDAL creates stack.tif with the `--co` options (over STACK_OPTIONS) without complaint, or exit 2."""
    probe_creation_options(
        stack_profile(grid, n_bands, creation), creation, f"{STACK_NAME} (float32, {n_bands} bands)"
    )


def _progress(windows: list[Window], enabled: bool) -> Iterable[Window]:
    if not enabled:
        return windows
    from tqdm import tqdm

    return tqdm(windows, desc="prepare", unit="window", leave=False)


def _read_labels(source: LabelSource, window: Window, valid: np.ndarray) -> np.ndarray:
    """The window's labels; merged labels count their conflicts inside the valid footprint only."""
    return source.read(window, valid) if isinstance(source, MergedLabels) else source.read(window)


def windowed_pass(
    folder: Path, inputs: OpenedInputs, window_size: int, creation: dict[str, str], progress: bool
) -> PassResult:
    """Write stack.tif and mask.tif into `folder`, gathering the statistics and the labelled pixels."""
    grid, hsi = inputs.grid, align(inputs.hsi, inputs.grid)
    bands = inputs.band_descriptions()
    stats = RunningStats(len(bands))
    band_valid = np.zeros(len(bands), dtype=np.int64)
    train, test = LabelPixels(), LabelPixels()
    windows = list(iter_windows(grid.height, grid.width, window_size))
    stack_options = stack_profile(grid, len(bands), creation)
    mask_profile = geotiff_profile(grid, 1, "uint8", None, SMALL_OPTIONS)
    with (
        rasterio.open(folder / STACK_NAME, "w", **stack_options) as stack_ds,
        rasterio.open(folder / MASK_NAME, "w", **mask_profile) as mask_ds,
    ):
        for i, (role, number, _) in enumerate(bands, start=1):
            stack_ds.set_band_description(i, f"{role}:{number}")
        mask_ds.set_band_description(1, "valid")
        for window in _progress(windows, progress):
            block = np.concatenate([hsi.read(window), *(a.aligned.read(window) for a in inputs.aux)], axis=0)
            finite = np.isfinite(block)
            band_valid += finite.sum(axis=(1, 2))
            valid = finite.all(axis=0)
            block[:, ~valid] = np.nan
            stack_ds.write(block, window=window)
            mask_ds.write(valid.astype(np.uint8)[None], window=window)
            stats.update(block, valid)
            row_off, col_off, _, _ = window_slices(window)
            for pixels, source in ((train, inputs.labels), (test, inputs.test_labels)):
                if source is not None:
                    pixels.add(_read_labels(source, window, valid), valid, row_off, col_off, grid.width)
    return PassResult(stats, band_valid, stats.count, train, test)


def check_valid_data(result: PassResult, descriptions: list[str]) -> None:
    """DataError for a band without any valid pixel, or a scene without a pixel valid in every source."""
    empty = [d for d, n in zip(descriptions, result.band_valid.tolist(), strict=True) if n == 0]
    if empty:
        raise DataError(
            f"band(s) {', '.join(empty)} hold no valid pixel (all nodata); drop them or fix the nodata value"
        )
    if result.valid_pixels == 0:
        raise DataError(
            "no pixel is valid in every source (their valid areas do not overlap); check the inputs"
        )
