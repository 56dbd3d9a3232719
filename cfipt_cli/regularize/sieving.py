"""GDAL's sieve over the whole band: connected regions of fewer than N pixels merged into their
largest neighbour (`GDALSieveFilter`, through `rasterio.features.sieve`).

Why the whole band: a region's size is a property of the whole region, which may cross any number
of blocks, and the neighbour it merges into depends on the sizes of its neighbours, so a block-wise
sieve would leave seams where blocks meet. GDAL reads the source band line by line (here the
majority-voted ids in a temporary GeoTIFF, nodata 0 masked: nodata is never a region and never
grows or shrinks) and keeps one record per region; the result goes into a memory-mapped temporary
file beside the output rather than into RAM, so the process holds the region records and the pages
the OS keeps cached, not the band (measured in README.md). That file holds raw ids, no GeoTIFF: it is
named `.NAME.tmp-PID-XXXX.raw` (`cfipt_cli.io.atomic.RAW_SCRATCH_SUFFIX`), which the next run on the
output removes when this one was killed, as it does the temporary GeoTIFF of the voted ids.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cfipt_cli.io.atomic import GDAL_SIDECARS


@contextmanager
def scratch_file(beside: Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file beside `beside` ending in `suffix` (default: `beside`'s, for a GeoTIFF), named
    as `cfipt_cli.io.atomic` names its temporaries (so that the next run removes it when this one was
    killed), removed at the end with the sidecars GDAL may have written beside it."""
    fd, name = tempfile.mkstemp(
        prefix=f".{beside.stem}.tmp-{os.getpid()}-",
        suffix=beside.suffix if suffix is None else suffix,
        dir=beside.parent,
    )
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        for leftover in (path, *(Path(str(path) + ext) for ext in GDAL_SIDECARS)):
            leftover.unlink(missing_ok=True)


def sieve_band(source: Path, out: Path, size: int, connectivity: int) -> np.memmap:
    """Sieve band 1 of `source` (class ids, 0 = nodata) into a memory map on `out`; returns it."""
    import rasterio
    from rasterio.features import sieve

    with rasterio.open(source) as src:
        result = np.memmap(out, dtype=src.dtypes[0], mode="w+", shape=(src.height, src.width))
        band = rasterio.band(src, 1)
        sieve(band, size, out=result, mask=band, connectivity=connectivity)
    result.flush()
    return result
