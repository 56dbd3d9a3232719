"""Reference labels on the HSI grid: vector layers (polygons, points) or a label raster.

Vector labels (shapefile, GeoPackage, GeoJSON, anything OGR reads; first layer) are read, reprojected to
the raster CRS and rasterised window by window through `cfipt_cli.io.vectors`, which `evaluate` shares:
its docstring gives the class field rule (integer ids, or names; never a silent switch between them).
Names are numbered 1..K in sorted order, unless a class-names file gives their ids. Features with an
empty class value or no geometry are skipped.

A label raster (GeoTIFF, .mat, ...) holds class ids with 0 = unlabelled; it is put on the HSI grid with
nearest-neighbour resampling, and its nodata counts as unlabelled. Class names come from a class-names
file, else the raster's GDAL `.aux.xml` CategoryNames, else "class <id>".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from cfipt_cli.contracts.suggestions import PREDICTION_FIELDS, recorded_label_field
from cfipt_cli.errors import CfiptUsageError, DataError, InputNotFoundError
from cfipt_cli.io.classes import MAX_CLASS_ID, ClassInfo, ClassTable, default_colour, parse_colour
from cfipt_cli.io.coreg import AlignedSource, align
from cfipt_cli.io.rasters import Grid, open_raster
from cfipt_cli.io.vectors import (
    burn_window,
    field_names,
    integer_class_ids,
    is_vector,
    labelled_features,
    name_of,
    read_layer,
)
from cfipt_cli.log import get_logger

log = get_logger(__name__)


class LabelSource(Protocol):
    """What the preparation needs from any label input."""

    path: Path
    kind: str
    names: dict[int, str]

    def declared_ids(self) -> set[int] | None: ...

    def read(self, window: Window) -> np.ndarray: ...

    def close(self) -> None: ...


# ----------------------------------------------------------------------------------------- class names
def _table_from_json(data: Any, path: Path) -> ClassTable:
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return ClassTable.from_names(data)
    if isinstance(data, list):
        return ClassTable.from_json(data)
    if isinstance(data, dict):
        items = []
        for key, value in data.items():
            entry = value if isinstance(value, dict) else {"name": value}
            items.append({"id": int(key), **entry})
        return ClassTable.from_json(items)
    raise DataError(f"{path}: expected a list of names, a list of {{id, name, colour}} or a {{id: name}} map")


def _table_from_csv(path: Path) -> ClassTable:
    classes = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            cells = [c.strip() for c in row]
            if not cells or not cells[0] or cells[0].startswith("#"):
                continue
            if not cells[0].lstrip("-").isdigit():
                continue  # a header row such as "id,name,colour"
            if len(cells) < 2 or not cells[1]:
                raise DataError(f"{path}: row {row} needs at least 'id,name'")
            class_id = int(cells[0])
            colour = parse_colour(cells[2]) if len(cells) > 2 and cells[2] else default_colour(class_id)
            classes.append(ClassInfo(class_id, cells[1], colour))
    return ClassTable(classes)


def read_class_names(path: str | Path) -> ClassTable:
    """Read a class-names file: CSV rows `id,name[,#rrggbb]` or JSON (names list, objects, or id->name).

    Raises:
        InputNotFoundError: no such file.
        DataError: malformed content.
    """
    file_path = Path(path)
    if not file_path.is_file():
        raise InputNotFoundError(f"class-names file {file_path} does not exist")
    try:
        if file_path.suffix.lower() == ".json":
            return _table_from_json(json.loads(file_path.read_text(encoding="utf-8")), file_path)
        return _table_from_csv(file_path)
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read class names from {file_path}: {exc}") from exc


# ---------------------------------------------------------------------------------------- vector labels
@dataclass
class VectorLabels:
    """Vector features with one class id each, in the raster CRS, rasterised on demand per window."""

    path: Path
    field: str
    grid: Grid
    geometries: Any  # GeoSeries in the grid's CRS
    ids: np.ndarray  # class id per geometry
    names: dict[int, str]
    all_touched: bool = False
    kind: str = "vector"
    skipped: int = 0

    def declared_ids(self) -> set[int] | None:
        return {int(i) for i in np.unique(self.ids)}

    def read(self, window: Window) -> np.ndarray:
        """Class ids (uint16, 0 = unlabelled) of the window, burnt from the features that touch it."""
        return burn_window(self.geometries, self.ids, self.grid, window, self.all_touched)

    def close(self) -> None:
        """Nothing to release (the features are in memory)."""


def _assign_ids(
    raw: Any, path: Path, name_to_id: Mapping[str, int] | None, strict: bool
) -> tuple[np.ndarray, dict[int, str]]:
    """Class id per feature (0 = dropped) and the id -> name map, by the rule of the module docstring."""
    ids = integer_class_ids(raw, f"the label field of {path.name}", name_to_id)
    if ids is not None:
        return ids, {}
    names = [name_of(v) for v in raw.tolist()]
    if name_to_id is None:
        name_to_id = {n: i for i, n in enumerate(sorted(set(names)), start=1)}
    unknown = sorted(set(names) - set(name_to_id))
    if unknown and strict:
        raise DataError(
            f"{path.name}: class names {unknown} are not in the class table ({sorted(name_to_id)}); "
            "add them to the class-names file"
        )
    if unknown:
        log.warning(
            "%s: classes %s are not among the training classes; their features are ignored",
            path.name,
            unknown,
        )
    mapped = np.array([name_to_id.get(n, 0) for n in names], dtype=np.int64)
    return mapped, {name_to_id[n]: n for n in set(names) if n in name_to_id}


def check_suggestions_field(path: Path, label_field: str | None) -> None:
    """CfiptUsageError when a points file of `cfipt suggest` is read by another field than its label field.

    Its other fields are the model's predictions (`contracts.suggestions`): training on them is silent.
    """
    recorded = recorded_label_field(path)
    if recorded is None or not label_field or label_field == recorded:
        return
    what = "holds the model's predictions" if label_field in PREDICTION_FIELDS else "is not it"
    raise CfiptUsageError(
        f"{path.name} is a cfipt suggest output: its labels are in the field {recorded!r}; {label_field!r} "
        f"{what} (give --label-field {recorded})"
    )


def open_vector_labels(
    path: str | Path,
    grid: Grid,
    label_field: str | None,
    all_touched: bool = False,
    name_to_id: Mapping[str, int] | None = None,
    strict: bool = True,
) -> VectorLabels:
    """Read a vector layer, check its class field and CRS, and reproject it to the grid's CRS.

    Args:
        path: shapefile, GeoPackage, GeoJSON... (first layer).
        grid: the HSI grid (must be georeferenced).
        label_field: the attribute holding class names or ids.
        all_touched: burn every pixel a polygon touches, not only those whose centre is inside.
        name_to_id: fixed name -> id map (class-names file or training classes); None numbers names 1..K.
        strict: unknown names are an error (training labels) rather than dropped with a warning (test).

    Raises:
        DataError: unreadable layer, no CRS, missing field (the message lists the fields), no features.
        CfiptUsageError: no field given; a `cfipt suggest` output read by another field than its label one.
    """
    file_path = Path(path)
    if not file_path.exists():
        raise InputNotFoundError(f"label file {file_path} does not exist")
    if grid.crs is None:
        raise DataError(
            f"vector labels ({file_path.name}) need a georeferenced HSI; for .mat inputs or rasters without "
            "a CRS give the labels as a raster of the same shape"
        )
    check_suggestions_field(file_path, label_field)
    gdf = read_layer(file_path)
    fields = field_names(gdf)
    if not label_field:
        raise CfiptUsageError(
            f"{file_path.name} is a vector layer: name its class field with --label-field "
            f"(fields: {', '.join(fields) or 'none'})"
        )
    if label_field not in fields:
        raise DataError(
            f"label field {label_field!r} is not in {file_path.name}; fields: {', '.join(fields) or 'none'}"
        )
    if gdf.crs is None:
        raise DataError(f"{file_path.name} has no CRS; assign one (e.g. ogr2ogr -a_srs EPSG:XXXX) and retry")
    gdf, skipped = labelled_features(gdf, label_field)
    if skipped:
        log.warning(
            "%s: %d features without geometry or with an empty class value are left out",
            file_path.name,
            skipped,
        )
    if len(gdf) == 0:
        raise DataError(f"{file_path.name} holds no feature with a geometry and a {label_field!r} value")
    ids, names = _assign_ids(gdf[label_field], file_path, name_to_id, strict)
    gdf = gdf.to_crs(grid.crs)
    kept = ids > 0
    geometries = gdf.geometry[kept].reset_index(drop=True)
    return VectorLabels(
        file_path, label_field, grid, geometries, ids[kept], names, all_touched, skipped=skipped
    )


# ----------------------------------------------------------------------------------------- raster labels
@dataclass
class RasterLabels:
    """A label raster seen through the HSI grid (nearest neighbour); nodata and NaN read as 0."""

    path: Path
    aligned: AlignedSource
    names: dict[int, str] = field(default_factory=dict)
    kind: str = "raster"
    renumber: dict[int, int] | None = None  # file id -> id of the merged labels (`merged_labels`)

    def declared_ids(self) -> set[int] | None:
        return None  # only known after reading every window

    def read(self, window: Window) -> np.ndarray:
        """Class ids (uint16, 0 = unlabelled) of the window."""
        values = self.aligned.read(window)[0]
        values = np.nan_to_num(values, nan=0.0)
        if np.any(values < 0) or np.any(values > MAX_CLASS_ID) or np.any(np.mod(values, 1.0) != 0):
            raise DataError(
                f"label raster {self.path.name} holds values that are not class ids in 0..{MAX_CLASS_ID}"
            )
        ids = values.astype(np.uint16)
        return ids if self.renumber is None else self._renumbered(ids)

    def _renumbered(self, ids: np.ndarray) -> np.ndarray:
        """The ids mapped through `renumber`; an id without a category name cannot be matched by name."""
        assert self.renumber is not None
        unnamed = sorted(set(np.unique(ids[ids > 0]).tolist()) - set(self.renumber))
        if unnamed:
            raise DataError(
                f"label raster {self.path.name} holds class ids {unnamed} that its category names (.aux.xml) "
                "do not name, so they cannot be matched by name to the other label files; name them or give "
                "--class-names"
            )
        lookup = np.zeros(MAX_CLASS_ID + 1, dtype=np.uint16)
        for old, new in self.renumber.items():
            lookup[old] = new
        return lookup[ids]

    def close(self) -> None:
        """Close the raster."""
        self.aligned.source.close()


def open_raster_labels(path: str | Path, grid: Grid, mat_keys: Sequence[str] = ()) -> RasterLabels:
    """Open a label raster (GeoTIFF, .mat, ...) and check that it can go onto the grid.

    Raises:
        InputNotFoundError, DataError: missing or unreadable file, several bands, no overlap, CRS mismatch.
    """
    source = open_raster(path, "labels", mat_keys=mat_keys)
    if source.count != 1:
        source.close()
        raise DataError(f"label raster {source.path.name} has {source.count} bands; it needs exactly one")
    try:
        aligned = align(source, grid, Resampling.nearest)
    except DataError:
        source.close()
        raise
    names: dict[int, str] = {}
    if source.kind == "gdal":
        table = ClassTable.from_aux_xml(source.path)
        names = {c.id: c.name for c in table} if table else {}
    return RasterLabels(source.path, aligned, names)


def open_labels(
    path: str | Path,
    grid: Grid,
    label_field: str | None = None,
    all_touched: bool = False,
    name_to_id: Mapping[str, int] | None = None,
    strict: bool = True,
    mat_keys: Sequence[str] = (),
) -> LabelSource:
    """Open vector or raster labels (chosen by the file suffix) for the grid; see the module docstring."""
    if is_vector(path):
        return open_vector_labels(path, grid, label_field, all_touched, name_to_id, strict)
    return open_raster_labels(path, grid, mat_keys)


def build_class_table(
    ids: Sequence[int], source_names: Mapping[int, str], user_table: ClassTable | None
) -> ClassTable:
    """The scene's class table: the given ids, named by the user's table, else the source, else 'class <id>'."""
    classes = []
    for class_id in sorted(ids):
        if user_table is not None and class_id in user_table.ids:
            info = next(c for c in user_table if c.id == class_id)
            classes.append(info)
            continue
        name = source_names.get(class_id, f"class {class_id}")
        classes.append(ClassInfo(class_id, name, default_colour(class_id)))
    return ClassTable(classes)
