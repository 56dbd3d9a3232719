"""One GTiff profile builder for every GeoTIFF cfipt writes, and the integer type of class rasters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfipt_cli.io.rasters import Grid


def class_map_dtype(max_id: int) -> str:
    """The smallest unsigned type holding every class id: 'uint8' up to 255, 'uint16' beyond."""
    return "uint8" if max_id <= 255 else "uint16"


def geotiff_profile(
    grid: Grid, count: int, dtype: str, nodata: float | None, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A rasterio GTiff profile on `grid` with the creation `options` as given.

    A plain pixel grid (no CRS) gets no transform either: GDAL would write the identity geotransform
    into the file, and GIS tools would then place the raster at the origin of an unknown CRS.
    """
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "nodata": nodata,
        **(options or {}),
    }
    if grid.crs is not None:
        profile.update(crs=grid.crs, transform=grid.transform)
    return profile
