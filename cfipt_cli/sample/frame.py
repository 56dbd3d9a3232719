"""The two passes of `cfipt sample` over the map, window by window (memory bounded by one window).

The sampling frame is every map pixel whose value is a class of the map's table (so neither the map's
nodata nor 0), less the labelled pixels (training or test) of `--exclude SCENE`. Pass 1 counts the
frame's pixels per class (`count_frame`); `draw` picks, per stratum and with one seeded numpy
Generator, which of them are sampled (their ranks, in the order the windows are read, without
replacement); pass 2 finds those pixels' rows and columns (`locate`). The same map, window size and
seed give the same pixels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.io.coreg import same_grid
from cfipt_cli.io.rasters import Grid, RasterSource, iter_windows, open_raster


@dataclass(frozen=True)
class FrameCounts:
    """Pass 1: per class id, the frame's pixels (N_h) and the map's pixels; the pixels left out."""

    pixels: dict[int, int]  # N_h: in the frame
    mapped: dict[int, int]  # in the whole map (excluded pixels included)
    excluded: int  # class pixels left out as labelled pixels of the scene
    unclassed: int  # valid pixels whose value is no class of the table


class SceneExclusion:
    """The labelled pixels (training or test) of a prepared scene on the map's grid."""

    def __init__(self, path: Path, grid: Grid, stack: contextlib.ExitStack):
        scene = Scene.open(path)
        self.path = path
        self.sources = []
        for label_path in (scene.train_labels_path, scene.test_labels_path):
            source = open_raster(label_path, "scene labels")
            stack.callback(source.close)
            theirs = source.grid
            if not same_grid(theirs, grid):
                raise DataError(
                    f"--exclude {path}: its labels ({theirs.width} x {theirs.height} px) are not on the "
                    f"map's grid ({grid.width} x {grid.height} px, same transform and CRS); give the "
                    "scene the map was predicted from"
                )
            self.sources.append(source)

    def labelled(self, window: object) -> np.ndarray:
        """(h, w) bool: a training or a test pixel of the scene."""
        train, test = (np.asarray(s.read(window)[0]) for s in self.sources)
        return np.asarray((train > 0) | (test > 0))


def _windows(
    source: RasterSource, ids: Sequence[int], exclusion: SceneExclusion | None, block: int
) -> Iterator:
    """(window, class ids with 0 where the pixel is out of the frame, class ids before the exclusion)."""
    nodata = source.nodata
    table = np.asarray(sorted(ids), dtype=np.int64)
    for window in iter_windows(source.grid.height, source.grid.width, block):
        values = np.asarray(source.read(window)[0])
        valid = values != 0
        if nodata is not None and not np.isnan(nodata):
            valid &= values != nodata
        if np.issubdtype(values.dtype, np.floating):
            valid &= np.isfinite(values)
        classed = valid & np.isin(values, table)
        mapped = np.where(classed, values, 0).astype(np.int64)
        framed = mapped if exclusion is None else np.where(exclusion.labelled(window), 0, mapped)
        yield window, framed, mapped, int(valid.sum() - classed.sum())


def count_frame(
    source: RasterSource, ids: Sequence[int], exclusion: SceneExclusion | None, block: int
) -> FrameCounts:
    """Pass 1: the frame's pixels per class id, the mapped pixels, the excluded and unclassed ones."""
    size = max(ids) + 1
    framed_total = np.zeros(size, dtype=np.int64)
    mapped_total = np.zeros(size, dtype=np.int64)
    unclassed = 0
    for _, framed, mapped, stray in _windows(source, ids, exclusion, block):
        framed_total += np.bincount(framed.ravel(), minlength=size)
        mapped_total += np.bincount(mapped.ravel(), minlength=size)
        unclassed += stray
    pixels = {i: int(framed_total[i]) for i in ids}
    mapped_pixels = {i: int(mapped_total[i]) for i in ids}
    return FrameCounts(pixels, mapped_pixels, sum(mapped_pixels.values()) - sum(pixels.values()), unclassed)


def draw(pixels: Mapping[int, int], sizes: Mapping[int, int], seed: int) -> dict[int, np.ndarray]:
    """Per stratum, the sorted ranks of its sampled pixels: `sizes[h]` of `pixels[h]`, without
    replacement, strata in the order of their ids, one Generator of `seed`."""
    rng = np.random.default_rng(seed)
    ranks = {}
    for stratum in sorted(pixels):
        n = sizes.get(stratum, 0)
        chosen = rng.choice(pixels[stratum], size=n, replace=False) if n else np.empty(0, np.int64)
        ranks[stratum] = np.sort(np.asarray(chosen, dtype=np.int64))
    return ranks


def locate(
    source: RasterSource,
    ids: Sequence[int],
    exclusion: SceneExclusion | None,
    block: int,
    ranks: Mapping[int, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: (rows, columns, class ids) of the drawn pixels, sorted by row then column."""
    seen = dict.fromkeys(ranks, 0)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for window, framed, _, _ in _windows(source, ids, exclusion, block):
        width = framed.shape[1]
        for stratum, wanted in ranks.items():
            if wanted.size == 0 or seen[stratum] > wanted[-1]:
                continue
            where = np.flatnonzero(framed == stratum)
            lo, hi = np.searchsorted(wanted, [seen[stratum], seen[stratum] + where.size])
            picked = where[wanted[lo:hi] - seen[stratum]]
            seen[stratum] += where.size
            rows = int(window.row_off) + picked // width
            cols = int(window.col_off) + picked % width
            found.append((rows, cols, np.full(picked.size, stratum, dtype=np.int64)))
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    rows, cols, classes = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], classes[order]
