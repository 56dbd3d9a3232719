"""GDAL as cfipt meets it: the failures rasterio raises and their one-line account for users, the
driver every raster is written with and its documentation page, and how GDAL spells option values."""

from __future__ import annotations

import re
from typing import Any

GTIFF = "GTiff"  # the driver of every raster cfipt writes
TRUE_SPELLINGS = ("YES", "TRUE", "ON")  # what GDAL reads as a true / false option value
FALSE_SPELLINGS = ("NO", "FALSE", "OFF")
INTEGER = re.compile(r"[+-]?\d+")  # an integer option value as GDAL parses it


def driver_doc_url(driver: str = GTIFF) -> str:
    """The GDAL documentation page of a raster driver."""
    return f"https://gdal.org/drivers/raster/{driver.lower()}.html"


def bounded_block_cache(megabytes: int) -> Any:
    """A `rasterio.Env` that bounds GDAL's block cache to `megabytes` (GDAL's default is 5 % of RAM,
    which would cache whole bands of a large scene). rasterio hands GDAL_CACHEMAX to
    `GDALSetCacheMax64`, in bytes: a bare 256 would be a 256-byte cache."""
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=megabytes * 1024 * 1024)


def gdal_errors() -> tuple[type[Exception], ...]:
    """The exceptions rasterio raises for GDAL failures (its own family and GDAL's CPLE errors)."""
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    return (RasterioError, CPLE_BaseError)


def gdal_message(exc: BaseException) -> str:
    """A GDAL failure on one line, with the causes rasterio chains to it ("Read failed. See previous
    exception" says nothing by itself)."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 4:
        text = " ".join(str(seen).split())
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__ or seen.__context__
    return ": ".join(parts) or type(exc).__name__
