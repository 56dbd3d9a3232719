"""Which `--co` creation options would store other values than the ones written (class maps stay exact).

`lossy_options` names them (lossy codecs, DISCARD_LSB, narrowing NBITS or PIXELTYPE), `unfit_options`
the lossless ones an integer raster's type cannot take, and `lossless_subset` is what remains for a
class map. Prepare refuses lossy options for its stack (its statistics describe the exact values);
predict gives them to its float rasters only (`cfipt_cli.io.mapio.class_map_options`).
"""

from __future__ import annotations

from collections.abc import Mapping

from cfipt_cli.io.gdal import FALSE_SPELLINGS, INTEGER, TRUE_SPELLINGS

LOSSLESS_CODECS = ("DEFLATE", "LZW", "ZSTD", "LZMA", "PACKBITS", "NONE")
_LERC = ("LERC", "LERC_DEFLATE", "LERC_ZSTD")
# Options that only tune a lossy codec or drop precision; dropped from the options of a class map.
_LOSSY_TUNING = ("MAX_Z_ERROR", "MAX_Z_ERROR_OVERVIEW", "DISCARD_LSB", "JPEG_QUALITY", "JPEGTABLESMODE")


def _positive(value: str | None) -> bool:
    try:
        return value is not None and float(value) > 0
    except ValueError:
        return True  # not a number: GDAL's own check reports it


def lossy_options(options: Mapping[str, str], dtype: str, max_value: int | None = None) -> list[str]:
    """The `--co` options (as NAME=VALUE) that would store other values than the ones written.

    Lossy codecs (JPEG, WEBP without WEBP_LOSSLESS, JXL with JXL_LOSSLESS=NO, LERC with MAX_Z_ERROR > 0),
    DISCARD_LSB, and narrowing: NBITS below the bits `max_value` needs (integers) or below 32 (float32),
    PIXELTYPE=SIGNEDBYTE for values above 127. `options` are canonical (`validate_creation_options`).
    """
    opts = {str(k).upper(): str(v).strip().upper() for k, v in options.items()}
    found: list[str] = []
    codec = opts.get("COMPRESS", "")
    if (
        codec == "JPEG"
        or (codec == "WEBP" and opts.get("WEBP_LOSSLESS", "NO") not in TRUE_SPELLINGS)
        or (codec == "JXL" and opts.get("JXL_LOSSLESS", "YES") in FALSE_SPELLINGS)
    ):
        found.append(f"COMPRESS={codec}")
    if codec in _LERC and _positive(opts.get("MAX_Z_ERROR")):
        found.append(f"COMPRESS={codec} MAX_Z_ERROR={opts['MAX_Z_ERROR']}")
    if "DISCARD_LSB" in opts:
        found.append(f"DISCARD_LSB={opts['DISCARD_LSB']}")
    if opts.get("PHOTOMETRIC") == "YCBCR":
        found.append("PHOTOMETRIC=YCBCR")
    if "NBITS" in opts and INTEGER.fullmatch(opts["NBITS"]):
        bits = int(opts["NBITS"])
        needed = 32 if dtype.startswith("float") else max(1, int(max_value or 0).bit_length())
        if bits < needed:
            found.append(f"NBITS={bits}")
    if opts.get("PIXELTYPE") == "SIGNEDBYTE" and (max_value is None or max_value > 127):
        found.append("PIXELTYPE=SIGNEDBYTE")
    return found


def unfit_options(options: Mapping[str, str], dtype: str) -> list[str]:
    """The lossless `--co` options (as NAME=VALUE) an integer raster of `dtype` cannot take: NBITS above
    the bits of its type (NBITS=16 on uint8, which GDAL would ignore; NBITS=16 on float32 is half
    precision, a float raster's option). Empty for a float dtype."""
    opts = {str(k).upper(): str(v).strip() for k, v in options.items()}
    if dtype.startswith("float") or not INTEGER.fullmatch(opts.get("NBITS", "")):
        return []
    import numpy as np

    bits = 8 * np.dtype(dtype).itemsize
    return [f"NBITS={int(opts['NBITS'])}"] if int(opts["NBITS"]) > bits else []


def lossless_subset(options: Mapping[str, str], dtype: str, max_value: int | None = None) -> dict[str, str]:
    """`options` without what `lossy_options` finds: a lossy codec gives way to the default one (the
    caller's), lossy tuning, narrowing NBITS and PIXELTYPE are dropped."""
    lossy = lossy_options(options, dtype, max_value)
    if not lossy:
        return dict(options)
    out = {k: v for k, v in options.items() if k.upper() not in _LOSSY_TUNING}
    names = {item.split("=", 1)[0] for text in lossy for item in text.split()}
    if "COMPRESS" in names and out.get("COMPRESS", "").upper() not in _LERC:
        out.pop("COMPRESS", None)
    for name in ("NBITS", "PIXELTYPE", "PHOTOMETRIC"):
        if name in names:
            out.pop(name, None)
    for name in ("WEBP_LEVEL", "WEBP_LOSSLESS", "JXL_LOSSLESS", "JXL_DISTANCE", "JXL_EFFORT"):
        if "COMPRESS" not in out:
            out.pop(name, None)
    return out
