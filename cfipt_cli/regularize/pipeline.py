"""`cfipt regularize`: the output policy, the majority vote block by block, the sieve, the cleaned map.

The map is read one block at a time with a halo of R pixels (`majority.majority_vote`), so the vote's
memory is bounded by one block. With `--sieve` the voted ids go to a temporary GeoTIFF that GDAL's
sieve reads (`sieving`), then the result is written block by block. The output is a class map as
`cfipt predict` writes it (`cfipt_cli.io.mapio`): the map's classes, colours, names and nodata, its
grid, tiling and compression (then `--co`), overviews, `.aux.xml` and QGIS style, under a temporary
name renamed at the end; a failure leaves nothing. The run holds GDAL's block cache to
`GDAL_CACHE_MB` (GDAL's default is 5 % of RAM), so that the memory stays what README.md measures
whatever the machine: the sieve's reads and the block reads and writes all go through that cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from cfipt_cli.io import mapio
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import RAW_SCRATCH_SUFFIX, atomic_file
from cfipt_cli.io.creation_options import validate_creation_options
from cfipt_cli.io.gdal import bounded_block_cache
from cfipt_cli.io.gtiff import class_map_dtype, geotiff_profile
from cfipt_cli.io.qgis_styles import style_path
from cfipt_cli.io.rasters import crs_label, iter_windows, window_slices
from cfipt_cli.regularize.majority import majority_vote
from cfipt_cli.regularize.request import RegularizeRequest
from cfipt_cli.regularize.sieving import scratch_file, sieve_band
from cfipt_cli.regularize.source import ClassMap, open_map

Blocks = Iterator[tuple[Any, np.ndarray]]  # (window, class ids with nodata as 0)
# GDAL's block cache during the run (its default, 5 % of RAM, would cache the whole band while the
# sieve reads it).
GDAL_CACHE_MB = 64


def _halo_block(cmap: ClassMap, window: Any, radius: int) -> np.ndarray:
    """The ids of `window` with `radius` pixels around it, 0 (no vote) beyond the map's edge."""
    from rasterio.windows import Window

    row, col, height, width = window_slices(window)
    top, left = max(0, row - radius), max(0, col - radius)
    bottom, right = min(cmap.grid.height, row + height + radius), min(cmap.grid.width, col + width + radius)
    ids = cmap.read_ids(Window(left, top, right - left, bottom - top))
    pad = (
        (top - (row - radius), row + height + radius - bottom),
        (left - (col - radius), col + width + radius - right),
    )
    return np.pad(ids, pad, constant_values=0)


def voted_blocks(cmap: ClassMap, radius: int | None, block_size: int, changed: list[int]) -> Blocks:
    """The map's blocks after the majority vote (as read without `radius`); adds the pixels the vote
    changed to `changed[0]`."""
    for window in iter_windows(cmap.grid.height, cmap.grid.width, block_size):
        if radius is None:
            yield window, cmap.read_ids(window)
            continue
        padded = _halo_block(cmap, window, radius)
        voted = majority_vote(padded, radius, 0)
        changed[0] += int((voted != padded[radius:-radius, radius:-radius]).sum())
        yield window, voted


def write_class_raster(path: Any, cmap: ClassMap, blocks: Blocks, co: dict[str, str]) -> dict[int, int]:
    """The cleaned map at `path` (a temporary name) with its sidecars; returns pixels per class id."""
    top = max(cmap.classes.max_id, cmap.nodata)
    counts = np.zeros(top + 1, dtype=np.int64)
    with mapio.open_class_map(path, cmap.grid, cmap.classes, co, nodata=cmap.nodata) as dst:
        for window, ids in blocks:
            counts += np.bincount(ids.ravel(), minlength=top + 1)
            out = ids.copy()
            out[ids == 0] = cmap.nodata
            dst.write(out.astype(dst.dtypes[0]), 1, window=window)
        mapio.finish_class_map(dst, cmap.classes)
    mapio.write_class_sidecars(path, cmap.classes)
    return {c.id: int(counts[c.id]) for c in cmap.classes}


def _sieved_blocks(
    cmap: ClassMap, request: RegularizeRequest, blocks: Blocks, changed: list[int]
) -> Generator[tuple[Any, np.ndarray], None, None]:
    """Write `blocks` to a scratch GeoTIFF, sieve it, yield the sieved blocks; counts the changes."""
    import rasterio

    assert request.sieve is not None
    dtype = class_map_dtype(max(cmap.classes.max_id, cmap.nodata))
    options = {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate"}
    with (
        scratch_file(request.out) as voted_path,
        scratch_file(request.out, RAW_SCRATCH_SUFFIX) as sieved_path,
    ):
        with rasterio.open(voted_path, "w", **geotiff_profile(cmap.grid, 1, dtype, 0, options)) as dst:
            for window, ids in blocks:
                dst.write(ids.astype(dtype), 1, window=window)
        sieved = sieve_band(voted_path, sieved_path, request.sieve, request.connectivity)
        with rasterio.open(voted_path) as voted:
            for window in iter_windows(cmap.grid.height, cmap.grid.width, request.block_size):
                row, col, height, width = window_slices(window)
                ids = np.array(sieved[row : row + height, col : col + width])
                changed[0] += int((ids != voted.read(1, window=window)).sum())
                yield window, ids
        del sieved  # the memory map's file is removed next


def _options(cmap: ClassMap, request: RegularizeRequest) -> dict[str, str]:
    """The map's tiling and compression, then `--co`, checked by GDAL before any work."""
    co = {**cmap.layout, **validate_creation_options(request.creation_options)}
    top = max(cmap.classes.max_id, cmap.nodata)
    mapio.check_class_map_options(co, top, float_outputs=False, what=request.out.name)
    mapio.check_creation_options(
        cmap.grid, class_map_dtype(top), 1, mapio.class_map_options(co, top), request.out.name, max_value=top
    )
    return co


def run_regularize(request: RegularizeRequest) -> dict[str, Any]:
    """Clean the map and write it to `request.out`; returns the summary (see `summary`).

    Raises:
        InputNotFoundError, DataError, CfiptUsageError, OutputExistsError: one line saying what to do.
    """
    output = policy.Output(request.out, "--out", policy.CLASS_MAP)
    policy.check_outputs([output], [("map", request.map_path)], request.overwrite)
    with bounded_block_cache(GDAL_CACHE_MB):
        return _regularize(request)


def _regularize(request: RegularizeRequest) -> dict[str, Any]:
    """`run_regularize` once the outputs are checked, under the bounded block cache."""
    cmap = open_map(request.map_path)
    with contextlib.closing(cmap.dataset), policy.locked_outputs([request.out]):
        co = _options(cmap, request)
        voted, sieved = [0], [0]
        blocks = voted_blocks(cmap, request.radius, request.block_size, voted)
        with atomic_file(request.out, request.overwrite) as tmp, contextlib.ExitStack() as scratch:
            if request.sieve is not None:  # closed on a failure too, which removes its scratch files
                blocks = scratch.enter_context(
                    contextlib.closing(_sieved_blocks(cmap, request, blocks, sieved))
                )
            counts = write_class_raster(tmp, cmap, blocks, co)
    return summary(request, cmap, counts, voted[0], sieved[0])


def summary(
    request: RegularizeRequest, cmap: ClassMap, counts: dict[int, int], voted: int, sieved: int
) -> dict[str, Any]:
    """The run in numbers: the pixels each step changed, the pixels per class after it."""
    return {
        "map": str(request.map_path),
        "out": str(request.out),
        "style": str(style_path(request.out)),
        "width": cmap.grid.width,
        "height": cmap.grid.height,
        "crs": crs_label(cmap.grid.crs),
        "radius": request.radius,
        "sieve": request.sieve,
        "connectivity": request.connectivity,
        "changed_by_majority": voted,
        "changed_by_sieve": sieved,
        "classes": [{"id": c.id, "name": c.name, "pixels": counts[c.id]} for c in cmap.classes],
    }
