"""A vector reference (`--field`): its features burnt onto the map grid window by window.

The layer is read, its labelled features kept and burnt through `io.vectors`, as `prepare` reads its
label layers; the class field follows the same rule (`io.vectors.integer_class_ids`). A field of names
takes the ids of the map's classes of the same name (ignoring case and runs of blanks), and names the
map lacks get new ids after the map's. A layer and a map that do not both have a CRS are assumed to use
the same coordinates (a warning says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.pixels import LabelReader
from cfipt_cli.evaluate.result import warn
from cfipt_cli.io.classes import MAX_CLASS_ID, ClassInfo, ClassTable, default_colour, name_key
from cfipt_cli.io.coreg import footprints_overlap
from cfipt_cli.io.rasters import Grid
from cfipt_cli.io.vectors import (
    burn_window,
    field_names,
    integer_class_ids,
    labelled_features,
    name_of,
    read_layer,
)


def vector_class_ids(
    values: Any, map_table: ClassTable | None, path: Path
) -> tuple[np.ndarray, ClassTable | None]:
    """Field values -> class ids, plus the reference class table when the field holds names.

    Raises:
        DataError: a field of ids and values that are not ids; names but a map without class names.
    """
    numbers = integer_class_ids(values, f"the class field of {path}", names_option=None)
    if numbers is not None:
        return numbers, None
    names = [name_of(v) for v in values.tolist()]
    if map_table is None or not len(map_table):
        raise DataError(f"{path} names its classes but the map has no class names (.aux.xml); pass --classes")
    by_key = {name_key(c.name): c.id for c in map_table}
    next_id = map_table.max_id + 1
    ids: dict[str, int] = {}
    for name in sorted(set(names)):
        if name_key(name) in by_key:
            ids[name] = by_key[name_key(name)]
        else:
            ids[name], next_id = next_id, next_id + 1
    if next_id - 1 > MAX_CLASS_ID:
        raise DataError(f"reference {path} holds values above {MAX_CLASS_ID}, which are not class ids")
    table = ClassTable(ClassInfo(i, n, default_colour(i)) for n, i in ids.items())
    return np.array([ids[n] for n in names], dtype=np.int64), table


def _labelled_layer(path: Path, field_name: str, notes: list[str]) -> Any:
    """The features of the layer with a geometry and a class value in the field."""
    frame = read_layer(path)
    fields = field_names(frame)
    if field_name not in fields:
        raise DataError(f"{path} has no field {field_name!r}; its fields are: {', '.join(fields) or 'none'}")
    frame, skipped = labelled_features(frame, field_name)
    if skipped:
        warn(notes, f"{path}: {skipped} features without geometry or class value are left out")
    return frame


def open_vector_reference(
    path: Path,
    field_name: str,
    grid: Grid,
    map_table: ClassTable | None,
    all_touched: bool,
    notes: list[str],
) -> tuple[LabelReader, ClassTable | None]:
    """The reader of a vector reference on the map grid, and its class table (None for a field of ids).

    Raises:
        DataError: unreadable layer, missing field (the message lists the fields), no labelled feature,
            no overlap with the map, a class field that holds no class ids (`vector_class_ids`).
    """
    frame = _labelled_layer(path, field_name, notes)
    if frame.crs is not None and grid.crs is not None:
        frame = frame.to_crs(grid.crs)
    elif frame.crs is not None or grid.crs is not None:
        warn(notes, f"{path} or the map has no CRS; assuming both use the same coordinates")
    if frame.empty:
        raise DataError(f"{path} has no feature with a geometry and a value in {field_name!r}")
    if not footprints_overlap(tuple(frame.total_bounds), grid.bounds):
        raise DataError(
            f"reference {path} does not overlap the map; check that both cover the same area and have the "
            "right CRS"
        )
    ids, table = vector_class_ids(frame[field_name], map_table, path)
    geometries = frame.geometry.reset_index(drop=True)

    def read(window: Window) -> np.ndarray:
        return burn_window(geometries, ids, grid, window, all_touched).astype(np.int64)

    return read, table
