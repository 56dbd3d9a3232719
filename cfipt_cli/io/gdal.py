"""GDAL failures as rasterio raises them, and their one-line account for users."""

from __future__ import annotations


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
