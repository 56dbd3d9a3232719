"""Pixel values -> class ids, and the window-by-window count of (reference value, map value) pairs.

Only the counts are kept, so a scene larger than memory is evaluated in constant memory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from rasterio.windows import Window

from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import MAX_CLASS_ID
from cfipt_cli.io.rasters import RasterSource, iter_windows

LabelReader = Callable[[Window], np.ndarray]  # a window of the map grid -> int64 class ids, 0 = unlabelled


def class_ids(values: np.ndarray, nodata: Sequence[float | None], what: str) -> np.ndarray:
    """Pixel values -> int64 class ids with 0 wherever the pixel is nodata, NaN, 0 or negative.

    Raises:
        DataError: non-integral values or values above 65535 (not class ids).
    """
    arr = np.asarray(values)
    invalid = arr <= 0
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        invalid |= ~finite
        if np.any(arr[finite] != np.round(arr[finite])):
            raise DataError(f"{what} holds non-integer values; a class map must hold integer class ids")
    for value in nodata:
        if value is not None and not math.isnan(value):
            invalid |= arr == value
    ids = np.where(invalid, 0, np.nan_to_num(arr)).astype(np.int64)
    if ids.size and ids.max() > MAX_CLASS_ID:
        raise DataError(f"{what} holds values above {MAX_CLASS_ID}, which are not class ids")
    return ids


def count_pairs(
    map_source: RasterSource, map_nodata: Sequence[float | None], read_reference: LabelReader, block: int
) -> tuple[Counter[tuple[int, int]], int]:
    """Counts of (reference value, map value) over the pixels valid in both, and the labelled reference
    pixels lost to map nodata. The map's first band holds its class ids."""
    pairs: Counter[tuple[int, int]] = Counter()
    lost = 0
    for window in iter_windows(map_source.grid.height, map_source.grid.width, block):
        reference = read_reference(window)
        labelled = reference > 0
        if not labelled.any():
            continue
        predicted = class_ids(map_source.read(window)[0], map_nodata, "the map")
        valid = labelled & (predicted > 0)
        lost += int(np.count_nonzero(labelled & ~valid))
        keys = reference[valid] * (MAX_CLASS_ID + 1) + predicted[valid]
        for key, n in zip(*np.unique(keys, return_counts=True), strict=True):
            pairs[divmod(int(key), MAX_CLASS_ID + 1)] += int(n)
    return pairs, lost
