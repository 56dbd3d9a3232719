"""One-band class rasters as tests write them: maps, references, strata, with or without a class table."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from cfipt_cli.io.classes import ClassTable


def write_class_raster(
    path: Path,
    array: np.ndarray,
    *,
    crs: str | None,
    transform: Affine | None,
    nodata: float | None = 0,
    classes: ClassTable | None = None,
    colormap: bool = False,
) -> Path:
    """A one-band GeoTIFF of `array` (its dtype). `crs` and `transform` are written as given, each may be
    None (a transform without CRS is a case evaluate must handle); `classes` adds the `.aux.xml`
    CategoryNames, as predict writes them, and with `colormap` the colour table too."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": array.dtype.name,
        "nodata": nodata,
    }
    profile.update({k: v for k, v in (("crs", crs), ("transform", transform)) if v is not None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain pixel grid on purpose
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(array, 1)
            if classes is not None and colormap:
                dst.write_colormap(1, classes.colormap())
    if classes is not None:
        classes.write_aux_xml(path)
    return path
