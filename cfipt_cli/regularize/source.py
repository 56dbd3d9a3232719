"""The map to clean: its grid, class table (names from the `.aux.xml`, colours from its colour table),
nodata, and the tiling and compression its copy keeps."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.errors import DataError, InputNotFoundError
from cfipt_cli.io.classes import ClassInfo, ClassTable
from cfipt_cli.io.gdal import gdal_errors
from cfipt_cli.io.rasters import Grid


@dataclass(frozen=True)
class ClassMap:
    """A classification map opened for reading: `dataset` is the open rasterio dataset."""

    path: Path
    dataset: Any
    grid: Grid
    classes: ClassTable
    nodata: int  # the map's nodata value (0 when it declares none); 0 never is a class either
    layout: dict[str, str]  # creation options that give the copy the map's tiling and compression

    def read_ids(self, window: Any) -> np.ndarray:
        """Class ids of a window, with every nodata pixel (0 or the map's nodata) as 0."""
        ids = np.asarray(self.dataset.read(1, window=window))
        ids[ids == self.nodata] = 0
        top = max(self.classes.max_id, self.nodata)
        if ids.size and int(ids.max()) > top:
            raise DataError(
                f"{self.path} holds class id {int(ids.max())}, beyond its class table (ids up to "
                f"{self.classes.max_id}); name every class of the map in its .aux.xml"
            )
        return ids


def _colours(dataset: Any) -> dict[int, tuple[int, ...]]:
    try:
        return dict(dataset.colormap(1))
    except ValueError:  # no colour table
        return {}


def _layout(dataset: Any) -> dict[str, str]:
    profile = dataset.profile
    layout = {"TILED": "YES" if profile.get("tiled") else "NO"}
    if profile.get("tiled"):
        layout.update(BLOCKXSIZE=str(profile["blockxsize"]), BLOCKYSIZE=str(profile["blockysize"]))
    compression = dataset.compression.name.upper() if dataset.compression is not None else "NONE"
    layout["COMPRESS"] = compression
    return layout


def open_map(path: Path) -> ClassMap:
    """Open `path` as a class map. Raises InputNotFoundError, or DataError when it is no raster, has
    more than one band, a non-integer type, or no class table (CategoryNames in `<map>.aux.xml`)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    if not path.is_file():
        raise InputNotFoundError(f"map {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            dataset = rasterio.open(path)
    except gdal_errors() as exc:
        raise DataError(f"cannot read {path} as a raster: {exc}") from exc
    try:
        return _class_map(path, dataset)
    except Exception:
        dataset.close()
        raise


def _class_map(path: Path, dataset: Any) -> ClassMap:
    if dataset.count != 1 or not np.issubdtype(np.dtype(dataset.dtypes[0]), np.unsignedinteger):
        raise DataError(
            f"{path} is not a class map: it has {dataset.count} band(s) of {dataset.dtypes[0]}; "
            "give one band of unsigned class ids"
        )
    names = ClassTable.from_aux_xml(path)
    if names is None or not len(names):
        raise DataError(
            f"{path} has no class table (no CategoryNames in {path}.aux.xml); regularize keeps the "
            "classes of a map cfipt predict wrote: give such a map"
        )
    colours = _colours(dataset)
    classes = ClassTable(
        ClassInfo(c.id, c.name, tuple(colours[c.id][:3]) if c.id in colours else c.colour)  # type: ignore[arg-type]
        for c in names
    )
    crs = dataset.crs if dataset.crs else None
    transform = dataset.transform if crs is not None else dataset.transform.identity()
    grid = Grid(dataset.width, dataset.height, crs, transform)
    nodata = int(dataset.nodata) if dataset.nodata is not None else 0
    return ClassMap(path, dataset, grid, classes, nodata, _layout(dataset))
