"""What cfipt writes at an output (`OutputKind`), recognised on disk so that `--overwrite` replaces only
cfipt's own outputs: a scene folder (`scene.json`), a model folder (`model.json`), a GeoTIFF tagged by
cfipt, a PNG whose Software chunk says cfipt, an evaluation report (JSON / CSV / Markdown as cfipt
writes them), a validation sample of `cfipt sample` (points with a design sidecar, the design, the QGIS
style), the suggestions of `cfipt suggest` (points with a record sidecar, their QGIS style), the
QGIS style beside a class raster, and a study folder of `cfipt reproduce` (`study.json`). Part of the
output policy, `cfipt_cli.io.outputs`.

A kind may name the `style` it writes beside it (`<stem>.qml`, QGIS's default style of the file): the
policy then treats that file as part of the output (never over an input, only cfipt's replaced).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.io.qgis_styles import CLASS_STYLE_MARK, SAMPLE_STYLE_MARK, SUGGESTIONS_STYLE_MARK

PNG_SOFTWARE = "cfipt"  # the PNG tEXt "Software" value starts with it (`mapio.png_metadata`)
# The sidecar of a sample's points and its format (`cfipt_cli.contracts.sample_design` uses these).
SAMPLE_DESIGN_SUFFIX = ".design.json"
SAMPLE_DESIGN_FORMAT = "cfipt-sample-design"
# The record beside the points of `cfipt suggest` and its format.
SUGGESTIONS_SUFFIX = ".suggest.json"
SUGGESTIONS_FORMAT = "cfipt-suggestions"


def _json_format(path: Path) -> str | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return str(document.get("format")) if isinstance(document, dict) else None


def _is_cfipt_geotiff(path: Path) -> bool:
    import warnings

    import rasterio

    from cfipt_cli.io.gdal import gdal_errors
    from cfipt_cli.io.mapio import PRODUCT_TAG

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            src = rasterio.open(path)
        with src:
            # maps written before the tag existed: the band descriptions cfipt gave them
            legacy = src.descriptions[:1] in (("class id",), ("confidence (max class probability)",))
            return bool(src.tags().get(PRODUCT_TAG)) or legacy
    except gdal_errors():
        return False


def png_software(path: Path) -> str | None:
    """The `Software` tEXt value of a PNG file, or None (not a PNG, or no such chunk before the data)."""
    try:
        with path.open("rb") as handle:
            if handle.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:
                head = handle.read(8)
                if len(head) < 8:
                    return None
                length, kind = struct.unpack(">I4s", head)
                if kind in (b"IDAT", b"IEND") or length > 1 << 20:
                    return None
                data = handle.read(length)
                handle.read(4)  # CRC
                if kind == b"tEXt" and data.startswith(b"Software\x00"):
                    return data.split(b"\x00", 1)[1].decode("latin-1")
    except OSError:
        return None


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\n")
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass(frozen=True)
class OutputKind:
    """What cfipt writes at an output: `what` for messages, `recognise(path)` for `--overwrite`, and
    the kind of the QGIS style written beside it (`style`), if any."""

    what: str
    folder: bool
    recognise: Callable[[Path], bool]
    style: OutputKind | None = None  # the kind of the `<stem>.qml` written with it, if any


def _folder_with(name: str, fmt: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and _json_format(path / name) == fmt


SCENE = OutputKind("cfipt scene folder", True, _folder_with("scene.json", "cfipt-scene"))
MODEL = OutputKind("cfipt model folder", True, _folder_with("model.json", "cfipt-model"))
GEOTIFF = OutputKind("GeoTIFF written by cfipt", False, _is_cfipt_geotiff)
CLASS_STYLE = OutputKind(
    "QGIS style of a cfipt class raster", False, lambda p: _first_line(p) == CLASS_STYLE_MARK
)
# A class raster (map, regularised map): a cfipt GeoTIFF with its QGIS style `<stem>.qml` beside it.
CLASS_MAP = OutputKind("GeoTIFF written by cfipt", False, _is_cfipt_geotiff, style=CLASS_STYLE)
PNG = OutputKind("PNG written by cfipt", False, lambda p: (png_software(p) or "").startswith(PNG_SOFTWARE))
REPORT_JSON = OutputKind(
    "JSON report of cfipt evaluate",
    False,
    lambda p: _json_format(p) in ("cfipt-evaluation", "cfipt-evaluation-summary"),
)
# The first line of the area-estimate CSV of cfipt evaluate (evaluate.area_reports writes it).
AREA_CSV_HEADER = "table,class,reference_class,unit,estimate,se,ci95_low,ci95_high"
REPORT_CSV = OutputKind(
    "CSV report of cfipt evaluate",
    False,
    lambda p: (
        _first_line(p).startswith("#Reference labels (rows):")
        or _first_line(p) in ("metric,class_id,class,mean,std,n", AREA_CSV_HEADER)
    ),
)
REPORT_MD = OutputKind(
    "Markdown report of cfipt evaluate",
    False,
    lambda p: _first_line(p).startswith(("Accuracy of ", "Mean ± standard deviation over ")),
)
SAMPLE_DESIGN = OutputKind(
    "sample design of cfipt sample", False, lambda p: _json_format(p) == SAMPLE_DESIGN_FORMAT
)
# The points file: cfipt's when its design sidecar is (a GeoPackage's own bytes say nothing of cfipt).
SAMPLE_POINTS = OutputKind(
    "sample of cfipt sample (points with a design sidecar)",
    False,
    lambda p: p.is_file() and SAMPLE_DESIGN.recognise(p.with_name(p.name + SAMPLE_DESIGN_SUFFIX)),
)
SUGGESTIONS_RECORD = OutputKind(
    "record of cfipt suggest", False, lambda p: _json_format(p) == SUGGESTIONS_FORMAT
)
SUGGESTIONS = OutputKind(
    "suggestions of cfipt suggest (points with a .suggest.json record)",
    False,
    lambda p: p.is_file() and SUGGESTIONS_RECORD.recognise(p.with_name(p.name + SUGGESTIONS_SUFFIX)),
)
SAMPLE_STYLE = OutputKind("QGIS style of cfipt sample", False, lambda p: _first_line(p) == SAMPLE_STYLE_MARK)
SUGGESTIONS_STYLE = OutputKind(
    "QGIS style of cfipt suggest", False, lambda p: _first_line(p) == SUGGESTIONS_STYLE_MARK
)
# The folder of `cfipt reproduce`: its study.json (cfipt_cli.reproduce.study writes it).
STUDY = OutputKind("cfipt study folder", True, _folder_with("study.json", "cfipt-study"))
REPORT_KINDS = {".json": REPORT_JSON, ".csv": REPORT_CSV, ".md": REPORT_MD, ".png": PNG}
ALL_KINDS = (
    SCENE,
    MODEL,
    GEOTIFF,
    PNG,
    REPORT_JSON,
    REPORT_CSV,
    REPORT_MD,
    SAMPLE_DESIGN,
    SAMPLE_POINTS,
    SAMPLE_STYLE,
    CLASS_STYLE,
    SUGGESTIONS_RECORD,
    SUGGESTIONS,
    SUGGESTIONS_STYLE,
    STUDY,
)
