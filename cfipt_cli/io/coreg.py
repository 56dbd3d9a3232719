"""Co-registration: put every source on the HSI grid, one destination window at a time.

Rules:
- Both grids georeferenced: warp with rasterio.warp.reproject onto the window's transform (bilinear by
  default for continuous values, nearest for labels). The destination nodata is NaN and the destination
  is pre-filled with it, so pixels outside the source footprint stay invalid instead of becoming 0.
- Neither grid georeferenced (.mat files, plain arrays): the pixel grids must have the same shape and
  are used as they are.
- One georeferenced and the other not: an error, since no placement can be inferred.
- Footprints that do not intersect: an error.
- Class rasters whose pixels are counted (`cfipt evaluate`) are warped with the exact transform
  (`ExactAlignedSource`): each target pixel takes the class under its centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.rasters import Grid, RasterSource, crs_label

CONTINUOUS_DEFAULT = "bilinear"


def parse_resampling(name: str) -> Resampling:
    """'bilinear' -> Resampling.bilinear; unknown names are usage errors that list the valid ones."""
    try:
        return Resampling[name.strip().lower()]
    except KeyError:
        valid = ", ".join(r.name for r in Resampling if r.value < 100)
        raise CfiptUsageError(f"unknown resampling {name!r}; use one of: {valid}") from None


def footprints_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two (left, bottom, right, top) footprints in one CRS overlap by more than an edge."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_alignable(source: RasterSource, target: Grid, target_name: str = "hsi") -> None:
    """Raise DataError when `source` cannot be placed on `target` (CRS mismatch, shapes, no overlap)."""
    src = source.grid
    if src.georeferenced != target.georeferenced:
        with_crs, without = (
            (source.path.name, target_name) if src.georeferenced else (target_name, source.path.name)
        )
        raise DataError(
            f"{with_crs} has a CRS but {without} has none, so they cannot be co-registered; "
            "give both a CRS (e.g. gdal_edit.py -a_srs) or neither"
        )
    if src.crs is None or target.crs is None:
        if (src.height, src.width) != (target.height, target.width):
            raise DataError(
                f"{source.path.name} ({src.height} x {src.width} px) and the {target_name} grid "
                f"({target.height} x {target.width} px) have no CRS and different shapes; "
                "without georeference the pixel grids must match"
            )
        return
    try:
        overlapping = grids_overlap(src, target)
    except rasterio.errors.RasterioError as exc:
        raise DataError(
            f"cannot transform the footprint of {source.path.name} to the HSI CRS: {exc}"
        ) from exc
    if not overlapping:
        raise DataError(
            f"the footprint of {source.path.name} ({crs_label(src.crs)}) does not overlap the "
            f"{target_name} grid ({crs_label(target.crs)}); check that the files cover the same area"
        )


def same_grid(a: Grid, b: Grid) -> bool:
    """True when the grids coincide pixel for pixel (no resampling needed)."""
    if (a.width, a.height) != (b.width, b.height):
        return False
    if a.crs is None or b.crs is None:
        return a.crs is None and b.crs is None
    return bool(a.crs == b.crs) and a.transform.almost_equals(
        b.transform, precision=1e-9 * max(1.0, abs(a.transform.a))
    )


@dataclass
class AlignedSource:
    """A source seen through the target grid: `read(window)` gives float32 (count, h, w), NaN = invalid."""

    source: RasterSource
    target: Grid
    resampling: Resampling
    direct: bool

    @property
    def count(self) -> int:
        return self.source.count

    def read(self, window: Window) -> np.ndarray:
        """The source's values on a window of the target grid; NaN where invalid or outside."""
        if self.direct:
            return self.source.read_float(window)
        return self._warp(window)

    def _warp(self, window: Window) -> np.ndarray:
        height, width = int(window.height), int(window.width)
        dst = np.full((self.count, height, width), np.nan, dtype=np.float32)
        bands = list(range(1, self.count + 1))
        try:
            reproject(
                source=rasterio.band(self.source.dataset, bands),
                destination=dst,
                src_nodata=self.source.nodata,
                dst_transform=self.target.window_transform(window),
                dst_crs=self.target.crs,
                dst_nodata=np.nan,
                resampling=self.resampling,
            )
        except rasterio.errors.RasterioError as exc:
            raise DataError(f"cannot warp {self.source.path} onto the HSI grid: {exc}") from exc
        dst[~np.isfinite(dst)] = np.nan
        return dst


def align(source: RasterSource, target: Grid, resampling: Resampling = Resampling.bilinear) -> AlignedSource:
    """Check that `source` can go onto `target` and return a window reader on the target grid.

    Raises:
        DataError: one grid has a CRS and the other not; ungeoreferenced shapes differ; no overlap.
    """
    check_alignable(source, target)
    return AlignedSource(source, target, resampling, direct=same_grid(source.grid, target))


EXACT_TOLERANCE = 1e-6  # warp error allowed, in source pixels: ~the exact transform (0 makes GDAL fail)


def grids_overlap(source: Grid, target: Grid) -> bool:
    """Whether the footprint of `source`, taken to the target's CRS, overlaps `target` (both georeferenced).

    Raises:
        rasterio.errors.RasterioError: the footprint cannot be transformed to the target's CRS.
    """
    bounds = transform_bounds(source.crs, target.crs, *source.bounds, densify_pts=21)
    return all(np.isfinite(bounds)) and footprints_overlap(bounds, target.bounds)


@dataclass
class ExactAlignedSource(AlignedSource):
    """An `AlignedSource` warped with the exact transform: each target pixel takes the value under its centre.

    `reproject` approximates the transform to 1/8 source pixel (GDAL's default, which rasterio's
    `reproject` does not let one change): on a large grid that moves a class boundary by a pixel here
    and there, which counts of class pairs must not. A WarpedVRT takes a tolerance; one is made on the
    first warped read and reads float32 with NaN where invalid, as `AlignedSource` does.
    """

    _vrt: Any = field(default=None, init=False, repr=False)

    def _warp(self, window: Window) -> np.ndarray:
        try:
            if self._vrt is None:
                self._vrt = WarpedVRT(
                    self.source.dataset,
                    crs=self.target.crs,
                    transform=self.target.transform,
                    width=self.target.width,
                    height=self.target.height,
                    resampling=self.resampling,
                    src_nodata=self.source.nodata,
                    nodata=np.nan,
                    dtype="float32",
                    tolerance=EXACT_TOLERANCE,
                )
            dst = np.asarray(self._vrt.read(window=window), dtype=np.float32)
        except rasterio.errors.RasterioError as exc:
            raise DataError(f"cannot warp {self.source.path} onto the target grid: {exc}") from exc
        dst[~np.isfinite(dst)] = np.nan
        return dst

    def close(self) -> None:
        """Release the warp and the source's file handle."""
        if self._vrt is not None:
            self._vrt.close()
            self._vrt = None
        self.source.close()
