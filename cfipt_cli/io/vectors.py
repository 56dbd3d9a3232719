"""Vector layers, read one way for `prepare` (label layers) and `evaluate` (vector references).

- Which files are vector layers: `VECTOR_SUFFIXES` / `is_vector` (a File Geodatabase is a `.gdb`
  folder; a `.zip` holds a zipped shapefile).
- Reading a layer (the first one, anything OGR reads) and keeping its labelled features: those with a
  geometry and a non-empty class value.
- The class field rule. The field holds either integer class ids in 1..65535, used as the pixel values:
  a numeric field, or text that is all integers ("3", "+3", "03"); or names (text). A field holding ids
  and values that are not ids (0, -3, 70000, 2.5, "1.5", "1e0", True, "Grass") is an error naming those
  values, never a silent switch to names (which would renumber every class), unless a class-names file
  names every value (`integer_class_ids`). A field with no possible id at all ("Grass",
  "Parking lot 1", or all 0 with a warning) is names. A value read as a name is written as
  `name_of` writes it (an integral float 3.0 reads "3").
- Burning features into a window of a grid (`burn_window`); where features overlap, the later feature
  in the file wins.
- Writing a layer (`write_layer`, for `cfipt sample`): the suffix picks the driver among the one-file
  formats of `WRITE_DRIVERS` (a shapefile's several files would not travel through an atomic rename).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import MAX_CLASS_ID
from cfipt_cli.io.rasters import Grid
from cfipt_cli.log import get_logger

log = get_logger(__name__)

# What prepare and evaluate each listed before, together: a file with one of these suffixes is a layer.
VECTOR_SUFFIXES = frozenset(
    {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml", ".sqlite", ".gdb", ".zip", ".parquet"}
)


WRITE_DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".fgb": "FlatGeobuf"}


def is_vector(path: str | Path) -> bool:
    """True when the path names a vector layer (by its suffix), False for a raster."""
    return Path(path).suffix.lower() in VECTOR_SUFFIXES


def declared_geometry_type(path: Path) -> str | None:
    """The geometry type the first layer declares ("Point", "Polygon", ...; "Unknown" for mixed or
    undeclared layers), read from its metadata without reading a feature; None if it cannot be read."""
    import pyogrio
    import pyogrio.errors

    try:
        return pyogrio.read_info(path).get("geometry_type")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError):
        return None  # the caller reads the layer, and read_layer says what is wrong


def read_layer(path: Path) -> Any:
    """The first layer of a vector file as a GeoDataFrame.

    Raises:
        DataError: the file is not a readable vector layer.
    """
    import geopandas as gpd
    import pyogrio.errors

    try:
        return gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError, ValueError) as exc:
        raise DataError(f"cannot read {path} as a vector layer: {exc}") from exc


def field_names(frame: Any) -> list[str]:
    """The attribute fields of a layer (every column but the geometry)."""
    return [c for c in frame.columns if c != frame.geometry.name]


def labelled_features(frame: Any, field: str) -> tuple[Any, int]:
    """The features with a geometry and a class value in `field` (not empty text), and how many were not."""
    keep = frame.geometry.notna() & ~frame.geometry.is_empty & frame[field].notna()
    keep &= frame[field].astype(str).str.strip() != ""
    return frame[keep], int((~keep).sum())


def name_of(value: Any) -> str:
    """A field value as a class name: stripped text, integral floats without their '.0'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def integer_class_ids(
    values: Any,
    where: str,
    names: Mapping[str, int] | None = None,
    names_option: str | None = "--class-names",
) -> np.ndarray | None:
    """Class ids (int64) of a field of integer ids (numbers, or text of integers), None for names.

    Each value is a class id (an integer in 1..65535, as a number or as text such as "7", "+7", "07")
    or not. A field holding both, ids and values that are not ids (1.5, "1.5", "1e0", 0, 70000, True,
    "Grass"), is a DataError naming the values that are not ids: using the whole field as names would
    silently renumber every class. Unless `names` (a class-names file's name -> id) names every value,
    which then applies as names (`names_option` is the option to name in the message, None for none).
    A field without any id is names ("Grass", "Parking lot 1"); when its
    values are all integers (all 0, say) a warning says they are used as names. A boolean field is names.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return None
    if names and all(name_of(v) in names for v in values.tolist()):
        return None
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        integer = np.isfinite(numbers) & (np.mod(numbers, 1.0) == 0)
    else:  # text, or mixed objects (a bool among strings reads "True")
        text = values.astype(str).str.strip()
        integer = text.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
        numbers = np.where(integer, pd.to_numeric(text.where(integer, "0")).to_numpy(), np.nan)
    ids = integer & (numbers >= 1) & (numbers <= MAX_CLASS_ID)
    if ids.all():
        return numbers.astype(np.int64)
    if not ids.any():  # no value could be an id: names renumber nothing
        if integer.all():
            log.warning("%s holds no value in 1..%d; its values are used as class names", where, MAX_CLASS_ID)
        return None
    counts = Counter(name_of(v) for v in values[~ids].tolist())
    shown = ", ".join(
        f"{name!r} ({n} feature{'s' if n > 1 else ''})" for name, n in sorted(counts.items())[:5]
    )
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    raise DataError(
        f"{where} holds class ids and values that are not ids: {shown}{more}; "
        f"use ids only (integers in 1..{MAX_CLASS_ID}), names only"
        + (f", or {names_option}" if names_option else "")
    )


def burn_window(
    geometries: Any, ids: np.ndarray, grid: Grid, window: Window, all_touched: bool = False
) -> np.ndarray:
    """Class ids (uint16, 0 = unlabelled) of a window of `grid`, burnt from the features that touch it.

    Args:
        geometries: a GeoSeries in the grid's coordinates (its spatial index finds the features).
        ids: the class id of each geometry (1..65535).
        grid: the grid the window belongs to.
        window: the window.
        all_touched: burn every pixel a feature touches, not only those whose centre is inside.
    """
    from rasterio.features import rasterize
    from shapely.geometry import box

    height, width = int(window.height), int(window.width)
    out = np.zeros((height, width), dtype=np.uint16)
    if len(ids) == 0:
        return out
    hits = np.sort(geometries.sindex.query(box(*grid.window_bounds(window))))
    if hits.size == 0:
        return out
    shapes = zip(geometries.iloc[hits].to_numpy(), ids[hits].tolist(), strict=True)
    return rasterize(
        shapes,
        out_shape=(height, width),
        transform=grid.window_transform(window),
        fill=0,
        out=out,
        all_touched=all_touched,
        dtype="uint16",
    )


def write_driver(path: str | Path) -> str | None:
    """The OGR driver `write_layer` uses for this file name (by its suffix), None when it writes none."""
    return WRITE_DRIVERS.get(Path(path).suffix.lower())


# GeoPackage 1.3, not the 1.4 of recent GDALs: QGIS 3.22 (GDAL 3.6) warns on every load of a 1.4 file
# that it "may only be partially supported".
GPKG_OPTIONS = {"VERSION": "1.3"}


def write_layer(frame: Any, path: Path, layer: str, driver: str | None = None) -> None:
    """Write a GeoDataFrame as the layer `layer` of a new file `path` (replaced if it exists), in the
    format of `driver`, by default the one `write_driver` names for its suffix (e.g. a temporary name)."""
    driver = driver or write_driver(path)
    if driver is None:
        raise DataError(f"cannot write {path}: give one of {', '.join(sorted(WRITE_DRIVERS))}")
    import warnings

    with warnings.catch_warnings():  # no CRS: a plain pixel grid, as cfipt's rasters of .mat inputs
        warnings.filterwarnings("ignore", "'crs' was not provided")
        options = GPKG_OPTIONS if driver == "GPKG" else {}
        frame.to_file(path, layer=layer, driver=driver, engine="pyogrio", dataset_options=options)
