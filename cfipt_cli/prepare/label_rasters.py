"""From the labelled pixels of the windowed pass to the class table, the split and the label rasters.

train_labels.tif and test_labels.tif are written window by window from the sorted flat indices of the
split, with the class table's colour map, a `.aux.xml` of category names and a QGIS style
(`train_labels.qml`, listing exactly the classes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from cfipt_cli.contracts.scene import TEST_LABELS_NAME, TRAIN_LABELS_NAME
from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.gtiff import class_map_dtype, geotiff_profile
from cfipt_cli.io.mapio import write_class_sidecars
from cfipt_cli.io.rasters import Grid, iter_windows, window_slices
from cfipt_cli.log import get_logger
from cfipt_cli.prepare.inputs import OpenedInputs
from cfipt_cli.prepare.labels import LabelSource, build_class_table
from cfipt_cli.prepare.merged_labels import MergedLabels
from cfipt_cli.prepare.split import SplitParams, SplitResult, split_pixels
from cfipt_cli.prepare.stack import SMALL_OPTIONS, LabelPixels, PassResult

log = get_logger(__name__)


def _class_table(
    labels: LabelSource, pixels: LabelPixels, classes: np.ndarray, user_table: ClassTable | None
) -> ClassTable:
    present = {int(c) for c in np.unique(classes)}
    declared = labels.declared_ids()
    expected = declared if declared is not None else pixels.seen
    missing = sorted(expected - present)
    if missing:
        names = build_class_table(missing, labels.names, user_table)
        listed = ", ".join(f"{c.name!r} (id {c.id})" for c in names)
        raise DataError(
            f"class(es) {listed} have no labelled pixel inside the valid footprint of the scene; "
            "remove them from the labels or check their position and CRS"
        )
    if pixels.on_nodata:
        log.warning("%d labelled pixels fall on nodata pixels and are ignored", pixels.on_nodata)
    return build_class_table(sorted(present), labels.names, user_table)


def _test_pixels(pixels: LabelPixels, table: ClassTable) -> tuple[np.ndarray, np.ndarray]:
    index, classes = pixels.arrays()
    known = np.isin(classes, table.ids)
    if not np.all(known):
        extra = sorted({int(c) for c in np.unique(classes[~known])})
        log.warning("test labels hold class ids %s that the training labels lack; they are ignored", extra)
    if pixels.on_nodata:
        log.warning("%d test pixels fall on nodata pixels and are ignored", pixels.on_nodata)
    return index[known], classes[known]


def classes_and_split(
    inputs: OpenedInputs, result: PassResult, params: SplitParams, user_table: ClassTable | None
) -> tuple[ClassTable, SplitResult]:
    """The class table and the split of the labelled pixels; empty both for a scene without labels.

    Raises:
        DataError: a class without any labelled pixel inside the valid footprint; two label files
            giving a pixel different classes.
    """
    no_index, no_class = np.zeros(0, np.int64), np.zeros(0, np.uint16)
    if inputs.labels is None:
        return ClassTable([]), SplitResult(no_index, no_class, no_index, no_class)
    if isinstance(inputs.labels, MergedLabels):
        inputs.labels.check_conflicts()
    index, classes = result.train.arrays()
    table = _class_table(inputs.labels, result.train, classes, user_table)
    if isinstance(inputs.labels, MergedLabels):
        inputs.labels.warn_new_classes(classes)
    test = _test_pixels(result.test, table) if inputs.test_labels is not None else (None, None)
    return table, split_pixels(index, classes, inputs.grid.width, params, *test)


def _write_labels(
    path: Path, grid: Grid, index: np.ndarray, classes: np.ndarray, table: ClassTable, window_size: int
) -> None:
    """A label raster written window by window from sorted flat indices; colour map and category names."""
    dtype = class_map_dtype(table.max_id)
    order = np.argsort(index, kind="stable")
    index, classes = index[order], classes[order]
    with rasterio.open(path, "w", **geotiff_profile(grid, 1, dtype, 0, SMALL_OPTIONS)) as dst:
        dst.write_colormap(1, table.colormap())
        for window in iter_windows(grid.height, grid.width, window_size):
            row_off, col_off, height, width = window_slices(window)
            lo, hi = np.searchsorted(index, [row_off * grid.width, (row_off + height) * grid.width])
            rows, cols = np.divmod(index[lo:hi], grid.width)
            inside = (cols >= col_off) & (cols < col_off + width)
            block = np.zeros((height, width), dtype=dtype)
            block[rows[inside] - row_off, cols[inside] - col_off] = classes[lo:hi][inside]
            dst.write(block[None], window=window)
    if len(table):
        write_class_sidecars(path, table)


def write_label_rasters(
    folder: Path, grid: Grid, split: SplitResult, table: ClassTable, window_size: int
) -> None:
    """train_labels.tif and test_labels.tif of the split."""
    _write_labels(folder / TRAIN_LABELS_NAME, grid, split.train_index, split.train_class, table, window_size)
    _write_labels(folder / TEST_LABELS_NAME, grid, split.test_index, split.test_class, table, window_size)
