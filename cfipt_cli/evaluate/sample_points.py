"""The points of a validation sample (`cfipt sample`'s layer) read one by one on the map grid.

Area-adjusted accuracy needs every sample unit on its own (its stratum, map class and reference class),
not the burnt counts of the confusion matrix. Each point is put on the pixel of the map grid it falls
in; its reference class is read from the class field as any vector reference is (`vector_class_ids`:
names take the ids of the map's classes), and the map's value is read at the pixel, never trusted from
the layer's `map_id` field. Points without a reference class, on nodata or outside the map are counted,
not dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from cfipt_cli.evaluate.pixels import class_ids
from cfipt_cli.evaluate.vector_reference import vector_class_ids
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.rasters import Grid, RasterSource
from cfipt_cli.io.vectors import declared_geometry_type, read_layer

READ_BLOCK = 256  # points are read by the map's blocks of this side, so a sample of thousands reads fast


@dataclass(frozen=True)
class SamplePoints:
    """The located, labelled points of a sample layer (arrays in the layer's order, one per point).

    `row`, `col`: the map pixel (-1 outside the map); `reference`: the reference class id (0 unlabelled);
    `stratum`: the raw value of the `stratum` field (None without one); `map_id`: the `map_id` field
    (0 where missing).
    """

    row: np.ndarray
    col: np.ndarray
    reference: np.ndarray
    stratum: list[Any] | None
    map_id: np.ndarray
    total: int  # features with a point geometry

    @property
    def inside(self) -> np.ndarray:
        return self.row >= 0


def all_points(path: Path) -> bool:
    """True when every geometry of the layer is a point (a validation sample, not polygons). A layer
    that declares another type (polygons: the common reference) is answered from its metadata alone."""
    declared = declared_geometry_type(path)
    if declared not in (None, "Unknown", "Point", "Point Z", "Point M", "Point ZM"):
        return False
    frame = read_layer(path)
    geometry = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    return bool(len(geometry)) and bool((geometry.geom_type == "Point").all())


def _labelled(values: Any) -> np.ndarray:
    return (values.notna() & (values.astype(str).str.strip() != "")).to_numpy(dtype=bool)


def _pixels(frame: Any, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The map pixel of each point, (-1, -1) outside the map."""
    rows, cols, inside = grid.pixels_at(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    return np.where(inside, rows, -1), np.where(inside, cols, -1)


def _integers(frame: Any, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=np.int64)
    import pandas as pd

    return pd.to_numeric(frame[name], errors="coerce").fillna(0).to_numpy(dtype=np.int64)


def read_sample_points(path: Path, field_name: str, grid: Grid, map_table: ClassTable | None) -> SamplePoints:
    """The point features of the layer (with a geometry), on the map grid.

    Raises:
        DataError: the class field holds no class ids (`vector_class_ids`).
    """
    frame = read_layer(path)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    frame = frame[frame.geometry.geom_type == "Point"].reset_index(drop=True)
    if frame.crs is not None and grid.crs is not None:
        frame = frame.to_crs(grid.crs)
    labelled = _labelled(frame[field_name])
    reference = np.zeros(len(frame), dtype=np.int64)
    if labelled.any():
        reference[labelled] = vector_class_ids(frame[field_name][labelled], map_table, path)[0]
    row, col = _pixels(frame, grid)
    stratum = frame["stratum"].tolist() if "stratum" in frame.columns else None
    return SamplePoints(row, col, reference, stratum, _integers(frame, "map_id"), len(frame))


def values_at(
    points: SamplePoints, read: Any, nodata: list[float | None], what: str, block: int = READ_BLOCK
) -> np.ndarray:
    """Class ids of a raster (`read(window)` -> (bands, h, w)) at each point inside the map; 0 elsewhere
    (outside, nodata). The raster is read by blocks that hold points only."""
    values = np.zeros(points.row.size, dtype=np.int64)
    inside = np.flatnonzero(points.inside)
    block_of = (points.row[inside] // block) * (1 << 32) + points.col[inside] // block
    for key in np.unique(block_of):
        members = inside[block_of == key]
        row0, col0 = (
            int(points.row[members[0]] // block * block),
            int(points.col[members[0]] // block * block),
        )
        rows, cols = points.row[members] - row0, points.col[members] - col0
        window = Window(col0, row0, int(cols.max()) + 1, int(rows.max()) + 1)
        band = class_ids(read(window)[0], nodata, what)
        values[members] = band[rows, cols]
    return values


def map_values_at(points: SamplePoints, source: RasterSource, nodata: list[float | None]) -> np.ndarray:
    """The map's class id at each point (0: outside the map or nodata)."""
    return values_at(points, source.read, nodata, "the map")
