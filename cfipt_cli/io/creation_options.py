"""`--co NAME=VALUE`: GDAL creation options checked before any output is written (prepare and predict).

GDAL only *warns* about an unknown creation option or a value it does not accept, then writes the file
without it (e.g. uncompressed for `COMPRESS=NOPE`). cfipt turns both into a usage error (exit 2) in two
steps, both driven by GDAL itself rather than a hand-written list:

1. `validate_creation_options` reads the driver's creation option list (the XML of the driver metadata
   item `DMD_CREATIONOPTIONLIST`, from the very GDAL library rasterio writes with) and checks every name
   (case-insensitive) and value: an enumerated value (`string-select`, case-insensitive), an integer, a
   number or a boolean where the list says so. It returns the options with canonical spellings (upper-case
   names, enumerated values as GDAL lists them, booleans as YES/NO).
2. `probe_creation_options` writes a small in-memory GeoTIFF with the whole profile (dtype, band count,
   the user's options over the defaults), pixels like the output's included, and turns GDAL's errors
   and its warnings about the options (e.g. `BLOCKXSIZE=100`, `PREDICTOR=3` on integers,
   `PHOTOMETRIC=RGB` on one band, and what only encoding refuses: JPEG on float32, LERC with a negative
   `MAX_Z_ERROR`) into the usage error. Each output is probed with exactly the options it is written
   with (a class map's lossless subset, see below). The warnings are captured, so no raw
   `rasterio._env` log line reaches stderr.

When the option list cannot be read (rasterio built in a way `ctypes` cannot reach), step 2 alone still
catches what GDAL complains about.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import functools
import logging
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.log import get_logger

log = get_logger(__name__)

DRIVER = "GTiff"
PROBE_SIDE = 64  # pixels per side of the in-memory probe (enough for 16-multiple blocks to be checked)
GDAL_LOGGER = "rasterio._env"  # where rasterio sends GDAL's CPLE_* warnings
_BOOLEAN_TRUE = ("YES", "TRUE", "ON")
_BOOLEAN_FALSE = ("NO", "FALSE", "OFF")
_INT = re.compile(r"[+-]?\d+")
_UNSIGNED = re.compile(r"\+?\d+")


def driver_doc_url(driver: str = DRIVER) -> str:
    """The GDAL documentation page of a raster driver."""
    return f"https://gdal.org/drivers/raster/{driver.lower()}.html"


@dataclass(frozen=True)
class OptionSpec:
    """One entry of a driver's creation option list."""

    name: str
    type: str
    values: tuple[str, ...] = ()  # the accepted values of a string-select option (aliases included)
    minimum: float | None = None
    maximum: float | None = None
    max_size: int | None = None


# ------------------------------------------------------------------------------ the list, from GDAL
def _gdal_library() -> Any:
    """The GDAL library rasterio is linked with, through one of rasterio's own extension modules.

    dlsym on the handle of an already loaded extension also searches the libraries it depends on, so
    this reaches the same libgdal that rasterio writes with (bundled in the wheel or the system's).
    """
    import rasterio._base

    library = ctypes.CDLL(rasterio._base.__file__)
    library.GDALAllRegister.restype = None
    library.GDALAllRegister.argtypes = []
    library.GDALGetDriverByName.restype = ctypes.c_void_p
    library.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
    library.GDALGetMetadataItem.restype = ctypes.c_char_p
    library.GDALGetMetadataItem.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    return library


@functools.lru_cache(maxsize=8)
def creation_option_list_xml(driver: str = DRIVER) -> str | None:
    """GDAL's `DMD_CREATIONOPTIONLIST` XML of `driver`, or None when it cannot be read."""
    try:
        library = _gdal_library()
        library.GDALAllRegister()
        handle = library.GDALGetDriverByName(driver.encode())
        if not handle:
            return None
        xml = library.GDALGetMetadataItem(handle, b"DMD_CREATIONOPTIONLIST", None)
    except (OSError, AttributeError, ImportError) as exc:  # no ctypes access to libgdal on this build
        log.debug("cannot read GDAL's creation option list of %s: %s", driver, exc)
        return None
    return xml.decode("utf-8", "replace") if xml else None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def parse_option_list(xml: str) -> dict[str, OptionSpec]:
    """{upper-case name or alias: spec} from a `<CreationOptionList>` document."""
    root = ElementTree.fromstring(xml)
    specs: dict[str, OptionSpec] = {}
    for option in root.iter("Option"):
        name = option.get("name")
        if not name:
            continue
        size = option.get("maxsize")
        spec = OptionSpec(
            name=name.upper(),
            type=(option.get("type") or "string").lower(),
            values=tuple((v.text or "").strip() for v in option.iter("Value")),
            minimum=_number(option.get("min")),
            maximum=_number(option.get("max")),
            max_size=int(size) if size and size.isdigit() else None,
        )
        for key in (name, option.get("alias"), option.get("deprecated_alias")):
            if key:
                specs.setdefault(key.upper(), spec)
    return specs


@functools.lru_cache(maxsize=8)
def driver_creation_options(driver: str = DRIVER) -> dict[str, OptionSpec] | None:
    """The creation options GDAL lists for `driver`, or None when the list cannot be read."""
    xml = creation_option_list_xml(driver)
    if xml is None:
        return None
    try:
        return parse_option_list(xml)
    except ElementTree.ParseError as exc:
        log.debug("GDAL's creation option list of %s is not XML: %s", driver, exc)
        return None


# ------------------------------------------------------------------------------------- validation
def _usage(name: str, value: str, problem: str, driver: str) -> CfiptUsageError:
    return CfiptUsageError(f"--co {name}={value}: {problem} (see {driver_doc_url(driver)})")


def _check_value(spec: OptionSpec, name: str, value: str, driver: str) -> str:
    """The canonical spelling of an accepted value; raises the usage error otherwise."""
    text = value.strip()
    kind = spec.type
    if kind == "string-select":
        for accepted in spec.values:
            if text.upper() == accepted.upper():
                return accepted
        raise _usage(name, value, f"{driver} accepts {spec.name} = {', '.join(spec.values)}", driver)
    if kind == "boolean":
        if text.upper() in _BOOLEAN_TRUE:
            return "YES"
        if text.upper() in _BOOLEAN_FALSE:
            return "NO"
        raise _usage(name, value, f"{driver} expects YES or NO for {spec.name}", driver)
    if kind in ("int", "integer", "unsigned int"):
        pattern, noun = (
            (_UNSIGNED, "a non-negative integer") if kind == "unsigned int" else (_INT, "an integer")
        )
        if not pattern.fullmatch(text):
            raise _usage(name, value, f"{driver} expects {noun} for {spec.name}", driver)
        _check_range(spec, name, value, float(text), driver)
        return str(int(text))
    if kind in ("float", "real"):
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if "_" in text or math.isnan(number):
            raise _usage(name, value, f"{driver} expects a number for {spec.name}", driver)
        _check_range(spec, name, value, number, driver)
        return text
    if spec.max_size is not None and len(value) > spec.max_size:
        raise _usage(
            name, value, f"{driver} allows at most {spec.max_size} characters for {spec.name}", driver
        )
    return value


def _check_range(spec: OptionSpec, name: str, value: str, number: float, driver: str) -> None:
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = (
            f"from {low:g} to {high:g}"
            if low is not None and high is not None
            else (f"at least {low:g}" if low is not None else f"at most {high:g}")
        )
        raise _usage(name, value, f"{driver} expects {spec.name} {bounds}", driver)


def validate_creation_options(options: Mapping[str, str] | None, driver: str = DRIVER) -> dict[str, str]:
    """Check `--co` options against GDAL's creation option list of `driver`; return them canonical.

    Names are matched case-insensitively and come back upper-case; enumerated values come back as GDAL
    spells them, booleans as YES/NO, integers without sign or padding. Raises `CfiptUsageError` (exit 2)
    with one line for the first unknown name or unacceptable value. When GDAL's list cannot be read, the
    options come back with upper-case names, unchecked (`probe_creation_options` still checks them).
    """
    specs = driver_creation_options(driver)
    checked: dict[str, str] = {}
    for raw_name, raw_value in (options or {}).items():
        name, value = str(raw_name).strip().upper(), str(raw_value)
        if specs is None:
            checked[name] = value
            continue
        spec = specs.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, sorted(specs), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise _usage(name, value, f"{driver} has no creation option {name}{hint}", driver)
        checked[name] = _check_value(spec, name, value, driver)
    return checked


# ------------------------------------------------------------------------------------------- probe
class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_gdal_warnings() -> Iterator[list[str]]:
    """Collect the GDAL warnings rasterio logs (instead of printing them) while the block runs."""
    logger = logging.getLogger(GDAL_LOGGER)
    collector = _Collector()
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = [collector]
    logger.propagate = False
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield collector.messages
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def _clean(message: str, dataset_name: str) -> str:
    """GDAL's message without rasterio's `CPLE_xxx in ` prefix, its "See previous exception" and the
    probe's temporary file name."""
    text = re.sub(r"^CPLE_\w+ in ", "", str(message).strip())
    text = re.sub(r"(\w+ failed\. )?See previous exception for details\.?(: )?", "", text).strip() or text
    for name in (dataset_name, Path(dataset_name).name):
        if name:
            text = text.replace(f"{name}: ", "").replace(name, "the file")
    return text


def _blamed(message: str, user: Mapping[str, str]) -> list[str]:
    """The user's options that a GDAL message is about (all of them for 'creation option' messages)."""
    named = [n for n in user if re.search(rf"\b{re.escape(n)}\b", message, re.IGNORECASE)]
    if named:
        return named
    return list(user) if "creation option" in message.lower() else []


def _sample(profile: Mapping[str, Any], max_value: float | None) -> Any:
    """Pixels like those the output will hold: integers 0..max_value (the dtype's range when None),
    floats in [0, 1] with NaN nodata among them."""
    import numpy as np

    count, height, width = int(profile.get("count", 1)), int(profile["height"]), int(profile["width"])
    dtype = np.dtype(str(profile.get("dtype", "uint8")))
    ramp = np.arange(count * height * width, dtype=np.float64).reshape(count, height, width)
    if dtype.kind == "f":
        values = ramp / max(1, ramp.size - 1)
        values.reshape(-1)[::7] = np.nan
        return values.astype(dtype)
    top = float(max_value) if max_value is not None else float(np.iinfo(dtype).max)
    return np.mod(ramp, top + 1).astype(dtype)


def probe_creation_options(
    profile: Mapping[str, Any],
    user_options: Mapping[str, str] | None,
    what: str,
    max_value: float | None = None,
) -> None:
    """Write a small in-memory GeoTIFF with `profile`; GDAL's objections to the user's options -> exit 2.

    `profile` is the full rasterio profile to be written (the user's options merged over the defaults);
    `user_options` are the `--co` options alone (nothing is probed without any); `what` names the output
    in the message, e.g. "stack.tif (float32, 20 bands)"; `max_value` is the largest value an integer
    output holds (its class ids). The probe creates the file, writes pixels like the real ones
    (`_sample`) and closes it, so that what GDAL refuses only when encoding (JPEG on Float32, LERC with a
    negative MAX_Z_ERROR) is found here, before any work, not after the last block.
    """
    user = {str(k).upper(): str(v) for k, v in (user_options or {}).items()}
    if not user:
        return
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    from cfipt_cli.io.gdal import gdal_errors, gdal_message

    small = dict(profile)
    small["width"] = max(1, min(int(profile.get("width", PROBE_SIDE)), PROBE_SIDE))
    small["height"] = max(1, min(int(profile.get("height", PROBE_SIDE)), PROBE_SIDE))
    shown = " ".join(f"{k}={v}" for k, v in user.items())
    url = driver_doc_url(str(profile.get("driver", DRIVER)))
    with captured_gdal_warnings() as messages, warnings.catch_warnings(), MemoryFile() as memory:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        probe_name = str(memory.name)
        try:
            with memory.open(**small) as probe:
                probe.write(_sample(small, max_value))
        except gdal_errors() as exc:
            detail = _clean(gdal_message(exc), probe_name)
            raise CfiptUsageError(
                f"--co {shown}: GDAL cannot write {what} with these creation options: {detail} (see {url})"
            ) from exc
    for message in messages:
        text = _clean(message, probe_name)
        blamed = _blamed(text, user)
        if blamed:
            options = " ".join(f"{k}={user[k]}" for k in blamed)
            raise CfiptUsageError(f"--co {options}: GDAL would ignore it for {what}: {text} (see {url})")
        log.debug("GDAL, creating %s: %s", what, text)


# ------------------------------------------------------------------------------------ lossless or not
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
        or (codec == "WEBP" and opts.get("WEBP_LOSSLESS", "NO") not in _BOOLEAN_TRUE)
        or (codec == "JXL" and opts.get("JXL_LOSSLESS", "YES") in _BOOLEAN_FALSE)
    ):
        found.append(f"COMPRESS={codec}")
    if codec in _LERC and _positive(opts.get("MAX_Z_ERROR")):
        found.append(f"COMPRESS={codec} MAX_Z_ERROR={opts['MAX_Z_ERROR']}")
    if "DISCARD_LSB" in opts:
        found.append(f"DISCARD_LSB={opts['DISCARD_LSB']}")
    if opts.get("PHOTOMETRIC") == "YCBCR":
        found.append("PHOTOMETRIC=YCBCR")
    if "NBITS" in opts and _INT.fullmatch(opts["NBITS"]):
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
    if dtype.startswith("float") or not _INT.fullmatch(opts.get("NBITS", "")):
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
