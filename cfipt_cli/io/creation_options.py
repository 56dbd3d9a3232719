"""`--co NAME=VALUE`: GDAL creation options checked before any output is written (prepare and predict).

GDAL only *warns* about an unknown creation option or a value it does not accept, then writes the file
without it (e.g. uncompressed for `COMPRESS=NOPE`). cfipt turns both into a usage error (exit 2) in two
steps, both driven by GDAL itself rather than a hand-written list:

1. `validate_creation_options` (this module) reads the driver's creation option list (the XML of the
   driver metadata item `DMD_CREATIONOPTIONLIST`, from the very GDAL library rasterio writes with) and
   checks every name (case-insensitive) and value: an enumerated value (`string-select`,
   case-insensitive), an integer, a number or a boolean where the list says so. It returns the options
   with canonical spellings (upper-case names, enumerated values as GDAL lists them, booleans as YES/NO).
2. `probe_creation_options` (`cfipt_cli.io.creation_probe`) writes a small in-memory GeoTIFF with the
   whole profile of an output and turns GDAL's errors and warnings about the options into the usage
   error. Each output is probed with exactly the options it is written with (a class map's lossless
   subset, `cfipt_cli.io.lossless`).

When the option list cannot be read (rasterio built in a way `ctypes` cannot reach), step 2 alone still
catches what GDAL complains about. The names of both steps and of the lossless rules are importable
from here.
"""

from __future__ import annotations

import ctypes
import difflib
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from cfipt_cli.errors import CfiptUsageError
from cfipt_cli.io.creation_probe import captured_gdal_warnings, probe_creation_options
from cfipt_cli.io.gdal import FALSE_SPELLINGS, GTIFF, INTEGER, TRUE_SPELLINGS, driver_doc_url
from cfipt_cli.io.lossless import LOSSLESS_CODECS, lossless_subset, lossy_options, unfit_options
from cfipt_cli.log import get_logger

__all__ = [
    "LOSSLESS_CODECS",
    "OptionSpec",
    "captured_gdal_warnings",
    "driver_creation_options",
    "lossless_subset",
    "lossy_options",
    "probe_creation_options",
    "unfit_options",
    "validate_creation_options",
]

log = get_logger(__name__)

_UNSIGNED = re.compile(r"\+?\d+")


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
def creation_option_list_xml(driver: str = GTIFF) -> str | None:
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
def driver_creation_options(driver: str = GTIFF) -> dict[str, OptionSpec] | None:
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
        if text.upper() in TRUE_SPELLINGS:
            return "YES"
        if text.upper() in FALSE_SPELLINGS:
            return "NO"
        raise _usage(name, value, f"{driver} expects YES or NO for {spec.name}", driver)
    if kind in ("int", "integer", "unsigned int"):
        pattern, noun = (
            (_UNSIGNED, "a non-negative integer") if kind == "unsigned int" else (INTEGER, "an integer")
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


def validate_creation_options(options: Mapping[str, str] | None, driver: str = GTIFF) -> dict[str, str]:
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
