"""A reference raster on the map grid: the rules of `cfipt evaluate`, applied through `io.coreg`.

Rasters are opened by `io.rasters` as `prepare` opens its inputs, so a raster without CRS is a plain
pixel grid. On top of the co-registration rules of `io.coreg`, evaluate says:
- Both grids georeferenced: the reference is resampled to the map grid with the exact nearest-neighbour
  warp (`ExactAlignedSource`), unless the grids coincide; their footprints must overlap.
- Neither georeferenced: the pixel grids must have the same shape and are read pixel for pixel.
- One georeferenced and the other not: only when the reference file stores the map's own size and
  geotransform are they taken as one grid (with a warning); else an error.
"""

from __future__ import annotations

from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.result import warn
from cfipt_cli.io.coreg import ExactAlignedSource, grids_overlap, same_grid
from cfipt_cli.io.rasters import Grid, RasterSource
from cfipt_cli.log import get_logger

LOG = get_logger(__name__)


def _stores_grid(source: RasterSource, grid: Grid) -> bool:
    """True when the file stores the grid's size and geotransform (a CRS may be missing on either side)."""
    stored: Affine = source.dataset.transform if source.dataset is not None else Affine.identity()
    return (source.grid.width, source.grid.height) == (grid.width, grid.height) and stored.almost_equals(
        grid.transform
    )


def pixel_for_pixel(source: RasterSource, grid: Grid) -> ExactAlignedSource:
    """The source read as it is: its pixel grid is the map's."""
    return ExactAlignedSource(source, grid, Resampling.nearest, direct=True)


def on_map_grid(source: RasterSource, grid: Grid, what: str, notes: list[str]) -> ExactAlignedSource:
    """The reference raster seen through the map grid, by the rules of the module docstring.

    Args:
        source: the opened reference raster.
        grid: the map's grid.
        what: what the raster is, for messages ("reference", "scene test labels").
        notes: warnings are appended here (and logged).

    Raises:
        DataError: the grids cannot be aligned (one has no CRS, pixel grids of different shapes, no
            overlap).
    """
    label = f"{what} {source.path}"
    if same_grid(source.grid, grid):
        return pixel_for_pixel(source, grid)
    if source.grid.georeferenced != grid.georeferenced:
        if not _stores_grid(source, grid):
            raise DataError(
                f"{label} and the map are on different grids and one has no CRS; cannot align them"
            )
        warn(notes, f"{label} and the map share their grid but one has no CRS; assuming they match")
        return pixel_for_pixel(source, grid)
    if not grid.georeferenced:
        raise DataError(
            f"{label} ({source.grid.height} x {source.grid.width} px) and the map ({grid.height} x "
            f"{grid.width} px) have no georeference and different shapes; without georeference the pixel "
            "grids must match"
        )
    try:
        overlapping = grids_overlap(source.grid, grid)
    except RasterioError as exc:
        raise DataError(f"cannot transform the footprint of {label} to the map's CRS: {exc}") from exc
    if not overlapping:
        raise DataError(
            f"{label} does not overlap the map; check that both cover the same area and have the right CRS"
        )
    LOG.info("%s is on another grid: resampled to the map grid (nearest)", label)
    return ExactAlignedSource(source, grid, Resampling.nearest, direct=False)
