"""GeoTIFF outputs of `cfipt predict`: the class map, per-class probabilities, confidence, quicklook.

The class map is what QGIS and GDAL users expect: one band of class ids (uint8, uint16 beyond 255
classes), nodata 0, the scene's CRS and transform, tiled 512 x 512, DEFLATE, an embedded colour table,
class names in a GDAL PAM sidecar (`<map>.tif.aux.xml`, CategoryNames), a QGIS style `<map>.qml`
listing exactly the classes (`write_class_sidecars`) and internal overviews built with nearest
resampling. Probabilities and confidence are float32 with NaN nodata. `--co NAME=VALUE`
creation options override the defaults for every GeoTIFF written here, except that the class map is
always lossless: options that would change its class ids (lossy codecs, MAX_Z_ERROR, narrowing NBITS,
see `cfipt_cli.io.lossless`) and options its integer type cannot take (NBITS=16 on uint8,
`unfit_options`) apply to the float rasters only (`class_map_options`), and are a usage error when no
float raster is written (`check_class_map_options`). Every GeoTIFF carries the tag
`CFIPT_PRODUCT`, by which `--overwrite` recognises what cfipt wrote.

Writers are opened on a path chosen by the caller (a temporary name from `cfipt_cli.io.atomic`) and
written window by window, so memory is bounded by one block.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.creation_probe import probe_creation_options
from cfipt_cli.io.gtiff import class_map_dtype, geotiff_profile
from cfipt_cli.io.lossless import LOSSLESS_CODECS, lossless_subset, lossy_options, unfit_options
from cfipt_cli.io.qgis_styles import write_raster_style
from cfipt_cli.io.rasters import Grid

MAP_NODATA = 0
PRODUCT_TAG = "CFIPT_PRODUCT"
# The provenance tags of predict's rasters: the sha256 of the model's weights (what `cfipt suggest`
# checks the rasters it reuses against), the `--pixels` selection, the uncertainty measure.
MODEL_TAG = "CFIPT_MODEL_SHA256"
PIXELS_TAG = "CFIPT_PIXELS"
UNCERTAINTY_MEASURE_TAG = "CFIPT_UNCERTAINTY_MEASURE"
TILE_SIZE = 512
DEFAULT_CREATION_OPTIONS: dict[str, str] = {
    "TILED": "YES",
    "BLOCKXSIZE": str(TILE_SIZE),
    "BLOCKYSIZE": str(TILE_SIZE),
    "COMPRESS": "DEFLATE",
}
# Overview levels stop once the coarsest level's longer side fits in this many pixels.
OVERVIEW_MIN_SIDE = 256


def _profile(
    grid: Grid, dtype: str, count: int, nodata: float, creation_options: Mapping[str, str] | None
) -> dict[str, Any]:
    """The GTiff profile of a predict output: the defaults (tiled 512, DEFLATE), then the user's `--co`."""
    options = {**DEFAULT_CREATION_OPTIONS, **{k.upper(): v for k, v in (creation_options or {}).items()}}
    return geotiff_profile(grid, count, dtype, nodata, {k.lower(): v for k, v in options.items()})


def check_creation_options(
    grid: Grid,
    dtype: str,
    count: int,
    creation_options: Mapping[str, str],
    what: str = "the class map",
    defaults: Mapping[str, str] | None = None,
    max_value: int | None = None,
) -> None:
    """Fail early (before any prediction) when GDAL refuses the `--co` options for this output.

    The options must already be checked against GDAL's list (`validate_creation_options`) and be
    exactly those this output receives (the class map's `class_map_options`); here a small in-memory
    GeoTIFF with the output's profile (`defaults` and the options over DEFAULT_CREATION_OPTIONS) is
    written with pixels like the output's (integers up to `max_value`) and dropped, which catches what
    the list cannot (PREDICTOR=3 on integers, JPEG on float32); see `cfipt_cli.io.creation_probe`.
    Raises `CfiptUsageError` (exit 2).
    """
    options = {**(defaults or {}), **creation_options}
    profile = _profile(grid, dtype, count, 0, options)
    bands = "1 band" if count == 1 else f"{count} bands"
    probe_creation_options(profile, creation_options, f"{what} ({dtype}, {bands})", max_value)


def overview_factors(width: int, height: int) -> list[int]:
    """Power-of-two decimation factors, at least one level, down to about OVERVIEW_MIN_SIDE pixels."""
    longest = max(width, height)
    if longest < 2:
        return []
    factors = [2]
    while math.ceil(longest / factors[-1]) > OVERVIEW_MIN_SIDE:
        factors.append(factors[-1] * 2)
    return factors


def class_map_options(creation_options: Mapping[str, str] | None, max_id: int) -> dict[str, str]:
    """The `--co` options as the class map takes them: without those that would change class ids
    (`lossy_options`) and those its integer type cannot take (`unfit_options`, NBITS=16 on uint8)."""
    dtype = class_map_dtype(max_id)
    options = lossless_subset(dict(creation_options or {}), dtype, max_id)
    unfit = {item.split("=", 1)[0] for item in unfit_options(options, dtype)}
    return {k: v for k, v in options.items() if k.upper() not in unfit}


def check_class_map_options(
    creation_options: Mapping[str, str], max_id: int, float_outputs: bool, what: str = "the class map"
) -> list[str]:
    """Usage error when `--co` holds options the class map does not take (lossy ones, or unfit for its
    integer type) and no float raster takes them either. Returns the warnings to give otherwise (that
    they apply to the float rasters only), for the caller to print once its other checks passed."""
    dtype = class_map_dtype(max_id)
    lossy = lossy_options(creation_options, dtype, max_id)
    unfit = unfit_options(creation_options, dtype)
    if not float_outputs and lossy:
        shown = " ".join(f"--co {item}" for item in lossy)
        raise CfiptUsageError(
            f"{shown} would change class ids in {what} ({dtype}, ids up to {max_id}); "
            "class maps are written losslessly: drop it (lossless COMPRESS: "
            f"{', '.join(LOSSLESS_CODECS)}); lossy options apply only to --proba and --confidence"
        )
    if not float_outputs and unfit:
        raise CfiptUsageError(
            f"{' '.join(f'--co {item}' for item in unfit)} does not fit {what} ({dtype} class ids); it "
            "would apply only to --proba and --confidence, and none is written: drop it"
        )
    notes = []
    for items, reason in ((lossy, "is written losslessly"), (unfit, f"holds {dtype} class ids")):
        if items:
            shown = " ".join(f"--co {item}" for item in items)
            notes.append(f"{shown} applies to --proba/--confidence only; {what} {reason}")
    return notes


def tag_product(dst: Any, product: str) -> None:
    """Mark a GeoTIFF as written by cfipt (what `--overwrite` may replace)."""
    from cfipt_cli import __version__

    dst.update_tags(**{PRODUCT_TAG: product, "CFIPT_VERSION": __version__})


def open_class_map(
    path: str | Path,
    grid: Grid,
    classes: ClassTable,
    creation_options: Mapping[str, str] | None,
    nodata: int = MAP_NODATA,
) -> Any:
    """Create the class map (one band of class ids, nodata 0 unless told) for writing; returns the
    rasterio dataset. Its type holds every class id and the nodata value (`class_map_dtype`)."""
    import rasterio

    top = max(classes.max_id, nodata)
    options = class_map_options(creation_options, top)
    profile = _profile(grid, class_map_dtype(top), 1, nodata, options)
    dst = rasterio.open(path, "w", **profile)
    dst.set_band_description(1, "class id")
    tag_product(dst, "class map")
    return dst


def finish_class_map(dst: Any, classes: ClassTable) -> None:
    """Embed the colour table and build nearest-neighbour overviews; call after all windows are written."""
    from rasterio.enums import Resampling

    dst.write_colormap(1, classes.colormap())
    factors = overview_factors(dst.width, dst.height)
    if factors:
        dst.build_overviews(factors, Resampling.nearest)
        dst.update_tags(ns="rio_overview", resampling="nearest")


def write_class_sidecars(path: str | Path, classes: ClassTable) -> list[Path]:
    """Write the sidecars of a class raster: `<path>.aux.xml` with the class names (GDAL CategoryNames)
    and the QGIS style `<path stem>.qml` listing exactly the classes (`cfipt_cli.io.qgis_styles`).
    The raster must be closed first (GDAL rewrites the `.aux.xml` on close). Written beside a temporary
    name of `cfipt_cli.io.atomic`, both are renamed with it. Returns their paths."""
    return [classes.write_aux_xml(path), write_raster_style(path, classes)]


def open_probabilities(
    path: str | Path, grid: Grid, classes: ClassTable, creation_options: Mapping[str, str] | None
) -> Any:
    """Create a float32 raster with one band per class (band k = class k of the table), NaN nodata."""
    import rasterio

    options = {"INTERLEAVE": "BAND", **(creation_options or {})}
    profile = _profile(grid, "float32", len(classes), float("nan"), options)
    dst = rasterio.open(path, "w", **profile)
    for band, name in enumerate(classes.names, start=1):
        dst.set_band_description(band, name)
    tag_product(dst, "class probabilities")
    return dst


def open_confidence(path: str | Path, grid: Grid, creation_options: Mapping[str, str] | None) -> Any:
    """Create a float32 one-band raster for the winning class's probability, NaN nodata."""
    import rasterio

    profile = _profile(grid, "float32", 1, float("nan"), creation_options)
    dst = rasterio.open(path, "w", **profile)
    dst.set_band_description(1, "confidence (max class probability)")
    tag_product(dst, "confidence")
    return dst


def open_uncertainty(
    path: str | Path, grid: Grid, measure: str, meaning: str, creation_options: Mapping[str, str] | None
) -> Any:
    """Create a float32 one-band raster of the model's uncertainty (`measure`, in [0, 1], `meaning` in
    words for the band description), NaN nodata."""
    import rasterio

    profile = _profile(grid, "float32", 1, float("nan"), creation_options)
    dst = rasterio.open(path, "w", **profile)
    dst.set_band_description(1, f"uncertainty ({meaning})")
    tag_product(dst, "uncertainty")
    dst.update_tags(**{UNCERTAINTY_MEASURE_TAG: measure})
    return dst


def colour_lut(classes: ClassTable) -> np.ndarray:
    """(max_id + 1, 4) uint8 RGBA lookup table: id 0 and unknown ids transparent."""
    lut = np.zeros((classes.max_id + 1, 4), dtype=np.uint8)
    for class_id, rgba in classes.colormap().items():
        lut[class_id] = rgba
    return lut


def write_quicklook(
    map_path: str | Path, png_path: str | Path, classes: ClassTable, max_side: int = 1024
) -> Path:
    """Render the class map as an RGBA PNG (nodata transparent), at most `max_side` pixels per side.

    Large maps are read decimated (nearest, served from the overviews), so memory stays small.
    """
    import rasterio
    from matplotlib.image import imsave
    from rasterio.enums import Resampling

    with rasterio.open(map_path) as src:
        scale = min(1.0, max_side / max(src.width, src.height))
        shape = (max(1, round(src.height * scale)), max(1, round(src.width * scale)))
        ids = src.read(1, out_shape=shape, resampling=Resampling.nearest)
    lut = colour_lut(classes)
    rgba = lut[np.clip(ids, 0, len(lut) - 1)]
    png = Path(png_path)
    imsave(png, rgba, format="png", metadata=png_metadata())
    return png


def png_metadata() -> dict[str, str]:
    """PNG text chunks of every PNG cfipt writes (`Software`: by it `--overwrite` recognises them)."""
    from cfipt_cli import __version__

    return {"Software": f"cfipt {__version__}"}
