"""Evaluation reports read back (`cfipt evaluate --summary`): the file, its schema, the list of runs.

A report is the JSON `cfipt evaluate --out/--json` writes (`EvaluationResult.to_json()`). Read back, it is
checked key by key before any figure is used: a report edited by hand or by another tool must not turn
into a traceback (a missing `classes`) or a silently wrong mean (an `overall_accuracy` of 1.7, "0.9" or
NaN). Every key `--summary` reads is checked with its type and range, plus the counts a report holds:

- `overall_accuracy`, `average_accuracy`: a finite number in [0, 1] or null (undefined);
- `kappa`: a finite number in [-1, 1] or null;
- `classes`: a list of objects, a valid class table (ids 1..65535, non-empty string names, neither
  repeated); per class `producer_accuracy`, `user_accuracy`, `f1` in [0, 1] or null, `in_reference`
  and `predicted` booleans, `reference_pixels`, `predicted_pixels`, `correct` non-negative integers
  (these when present: reports of earlier versions may lack them);
- `pixels.evaluated`, `pixels.reference_without_prediction`: non-negative integers (when present).
- `area_estimates` (a sample with a design; optional, `--summary` does not average it): an object
  with an `overall_accuracy` object and a `classes` list.

A bad key is a DataError (exit 1) of one line naming the file and the key (`schema.Document`). The list
of runs: the same file given twice (after resolving links, hard links included) is a usage error (exit
2), it would count one run twice; two files with identical content get a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cfipt_cli.errors import CfiptUsageError, DataError, InputNotFoundError
from cfipt_cli.io.atomic import JsonDocument
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.schema import Document
from cfipt_cli.log import get_logger

log = get_logger(__name__)

REPORT_FORMAT = "cfipt-evaluation"
REPORT_DOCUMENT = JsonDocument(
    REPORT_FORMAT,
    DataError,
    unreadable="{path} is not a JSON report of 'cfipt evaluate': {exc}",
    foreign="{path} is not a JSON report of 'cfipt evaluate' (write one with --out or --json)",
)
FIX = "the report is damaged or was edited; write it again with cfipt evaluate MAP -r REF --out BASE"
RATES = ("producer_accuracy", "user_accuracy", "f1")
CLASS_COUNTS = ("reference_pixels", "predicted_pixels", "correct")
CLASS_FLAGS = ("in_reference", "predicted")
PIXEL_COUNTS = ("evaluated", "reference_without_prediction")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fraction(doc: Document, key: str, low: float = 0.0, high: float = 1.0, required: bool = True) -> None:
    """`key` is a finite number in [low, high] or null (a figure that is undefined)."""
    expected = f"a number from {low:g} to {high:g} or null"
    if key not in doc.data:
        if required:
            raise doc.error(key, expected, missing=True)
        return
    value = doc.data[key]
    if value is not None and not (_is_number(value) and low <= value <= high):
        raise doc.error(key, f"{expected}, not {value!r}")


def _count(doc: Document, key: str) -> None:
    """`key`, when present, is a non-negative integer."""
    value = doc.data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise doc.error(key, f"a non-negative integer, not {value!r}")


def _flag(doc: Document, key: str) -> None:
    if key in doc.data and not isinstance(doc.data[key], bool):
        raise doc.error(key, f"true or false, not {doc.data[key]!r}")


def _check_area(doc: Document) -> None:
    """The optional area section, lightly: its shape, not its figures (`--summary` does not read them)."""
    area = doc.data["area_estimates"]
    if not isinstance(area, dict):
        raise doc.error("area_estimates", f"an object, not {area!r}")
    if not isinstance(area.get("overall_accuracy"), dict):
        raise doc.error("area_estimates.overall_accuracy", "an object with estimate, se and ci95")
    if not isinstance(area.get("classes"), list):
        raise doc.error("area_estimates.classes", "a list of class estimates")


def check_report(report: dict[str, Any], path: Path) -> None:
    """Every key `--summary` reads, with its type and range (module docstring).

    Raises:
        DataError: one line naming `path` and the first bad key.
    """
    doc = Document(report, path, FIX)
    _fraction(doc, "overall_accuracy")
    _fraction(doc, "average_accuracy")
    _fraction(doc, "kappa", low=-1.0)
    if "pixels" in report:
        pixels = doc.sub("pixels")
        for key in PIXEL_COUNTS:
            _count(pixels, key)
    if "area_estimates" in report:
        _check_area(doc)
    for i, entry in enumerate(doc.class_table("classes")):
        item = Document(entry, path, FIX, f"classes[{i}].")
        for key in RATES:
            _fraction(item, key)
        for key in CLASS_COUNTS:
            _count(item, key)
        for key in CLASS_FLAGS:
            _flag(item, key)


def read_report(path: str | Path) -> dict[str, Any]:
    """A JSON report written by `cfipt evaluate` (--out or --json), checked (`check_report`).

    Raises:
        InputNotFoundError, DataError: missing, unreadable or foreign file, or a bad key.
    """
    source = Path(path)
    if not source.exists():
        raise InputNotFoundError(f"report {source} does not exist")
    report = REPORT_DOCUMENT.read(source)
    check_report(report, source)
    return report


def _identity(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputNotFoundError(f"report {path} does not exist") from exc
    return stat.st_dev, stat.st_ino


def check_distinct_runs(paths: Sequence[str | Path]) -> None:
    """The same report file given twice (a link to it included) is a usage error: one run would count
    twice. Raises InputNotFoundError for a missing report, CfiptUsageError for a repeat."""
    seen: dict[tuple[int, int], Path] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputNotFoundError(f"report {path} does not exist")
        first = seen.setdefault(_identity(path), path)
        if first is not path:
            same = "is given twice" if str(first) == str(path) else f"is the same file as {first}"
            raise CfiptUsageError(
                f"--summary: report {path} {same}; each run must count once (give every report once)"
            )


def read_reports(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The checked reports of `paths`, each file once (`check_distinct_runs`); two files with identical
    content get a warning (a report copied under another name counts its run twice)."""
    check_distinct_runs(paths)
    reports = [read_report(p) for p in paths]
    by_digest: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        digest = sha256_file(path)
        first = by_digest.setdefault(digest, path)
        if first is not path:
            log.warning(
                "--summary: reports %s and %s are identical: the same run twice? It counts as two runs",
                first,
                path,
            )
    return reports
