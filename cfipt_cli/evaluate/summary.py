"""`cfipt evaluate --summary`: mean and standard deviation of every figure over several runs' reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cfipt_cli import __version__
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.evaluate.metrics import mean_std
from cfipt_cli.evaluate.report_schema import RATES, read_reports
from cfipt_cli.evaluate.result import FORMAT_VERSION, finite
from cfipt_cli.io.classes import name_key
from cfipt_cli.io.files import utc_now

SUMMARY_FORMAT = "cfipt-evaluation-summary"
SUMMARY_DDOF = 1


def _stat(values: Sequence[float | None]) -> dict[str, Any]:
    mean, std, n = mean_std([v for v in values if v is not None], ddof=SUMMARY_DDOF)
    return {"mean": finite(mean), "std": finite(std), "n": n}


def check_class_tables(paths: Sequence[str | Path], reports: Sequence[Mapping[str, Any]]) -> None:
    """Refuse reports whose class tables disagree: one class id with two names (compared as class
    matching does, ignoring case and repeated blanks). A class that only some reports list is fine (a
    class one seed never predicted, a stray map value); averaging runs of other class tables is not.

    Raises:
        DataError: the first report, in the given order, naming a class id differently from an earlier one.
    """
    first: dict[int, tuple[str, str | Path]] = {}
    for path, report in zip(paths, reports, strict=True):
        for c in report["classes"]:
            class_id, name = int(c["id"]), str(c["name"])
            seen_name, seen_path = first.setdefault(class_id, (name, path))
            if name_key(seen_name) != name_key(name):
                raise DataError(
                    f"report {path} names class {class_id} {name!r} but {seen_path} names it {seen_name!r}; "
                    "--summary averages runs that share one class table"
                )


def _class_figures(reports: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per class (matched by name across runs): how many runs count, and the statistics of PA, UA, F1."""
    per_class: dict[str, dict[str, Any]] = {}
    for report in reports:
        for c in report["classes"]:
            entry = per_class.setdefault(
                name_key(c["name"]),
                {"id": c["id"], "name": c["name"], **{m: [] for m in RATES}},
            )
            # A run whose reference lacks the class does not count for any of its figures (its UA and F1
            # would only say the class was predicted there), so PA, UA and F1 average the same runs.
            if not c.get("in_reference", c.get("producer_accuracy") is not None):
                continue
            for metric in RATES:
                entry[metric].append(c.get(metric))
    return [
        {"id": e["id"], "name": e["name"], "runs": len(e["f1"]), **{m: _stat(e[m]) for m in RATES}}
        for e in sorted(per_class.values(), key=lambda e: (e["id"], e["name"]))
    ]


def summarise_runs(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Mean and standard deviation (sample, n - 1) of every metric over several runs' JSON reports.

    Per-class figures are matched by class name across runs; a class absent from the reference of a
    run does not count in that run for any figure (`runs` says how many runs count; each figure's `n`
    how many of them define it, fewer for UA when a run never predicted the class). The runs must
    share their class table (`check_class_tables`).

    Raises:
        CfiptUsageError: no report given, or one report file given twice (`report_schema.read_reports`).
        InputNotFoundError, DataError: a report is missing, not a cfipt evaluation report or has a bad
            key (`report_schema.check_report`), or the reports' class tables differ.
    """
    if not paths:
        raise CfiptUsageError("--summary needs the JSON reports of the runs, e.g. runs/*/report.json")
    reports = read_reports(paths)  # checked key by key, each file once
    check_class_tables(paths, reports)
    return {
        "format": SUMMARY_FORMAT,
        "format_version": FORMAT_VERSION,
        "cfipt_version": __version__,
        "created": utc_now(),
        "runs": [str(p) for p in paths],
        "n_runs": len(reports),
        "std_ddof": SUMMARY_DDOF,
        **{m: _stat([r.get(m) for r in reports]) for m in ("overall_accuracy", "average_accuracy", "kappa")},
        "classes": _class_figures(reports),
    }
