"""`cfipt evaluate`: accuracy of a map against a reference, or a summary over several runs' reports."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import JsonOut, Overwrite
from cfipt_cli.errors import CfiptUsageError


class ReportFormat(str, Enum):
    """What is printed on stdout."""

    md = "md"
    json = "json"
    csv = "csv"


# Described in the command's docstring: Typer would list a variadic argument as "MAP <list[Path]>".
Maps = Annotated[list[Path] | None, typer.Argument(metavar="MAP", show_default=False, hidden=True)]
Reference = Annotated[
    str | None,
    typer.Option(
        "--reference",
        "-r",
        metavar="REF",
        help="A prepared scene folder (its test labels), a label raster, a vector file (with --field) "
        "or a .mat label array of the map's shape.",
    ),
]
Field = Annotated[
    str | None, typer.Option("--field", metavar="NAME", help="Vector attribute with class names or ids.")
]
Nodata = Annotated[
    float | None, typer.Option("--nodata", help="Map value to leave out, besides the map's nodata and 0.")
]
Classes = Annotated[
    Path | None,
    typer.Option(
        "--classes",
        metavar="PATH",
        help="Class table of the map when it has no .aux.xml: a scene or model folder or its JSON.",
    ),
]
MatKeys = Annotated[
    list[str] | None,
    typer.Option(
        "--mat-key",
        metavar="KEY",
        help="Variable to read from a .mat reference when several could be the labels (repeatable; "
        "the first key the file holds is used).",
    ),
]
AllTouched = Annotated[
    bool, typer.Option("-a", "--all-touched", help="Rasterise a vector reference with every touched pixel.")
]
Strata = Annotated[
    Path | None,
    typer.Option(
        "--strata",
        metavar="RASTER",
        help="Strata of a sample of points for its area estimate, instead of its design's "
        "(Stehman's estimators; stratum sizes counted over the map's valid pixels).",
    ),
]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="BASE",
        help="Write BASE.json, BASE.csv, BASE.md and BASE.png (or the summary); for a sample with a "
        "design also BASE.area.csv and BASE.area.png.",
    ),
]
Format = Annotated[
    ReportFormat | None, typer.Option("--format", help="What stdout shows: md (default), json or csv.")
]
Plot = Annotated[
    Path | None, typer.Option("--plot", metavar="PNG", help="Save the row-normalised confusion matrix.")
]
Summary = Annotated[
    bool, typer.Option("--summary", help="Mean and standard deviation over the given JSON reports.")
]


def _stdout_format(fmt: ReportFormat | None, json_out: bool) -> str:
    if fmt is None:
        return "json" if json_out else "md"
    if json_out and fmt is not ReportFormat.json:
        raise CfiptUsageError(f"--json and --format {fmt.value} contradict each other; give one")
    return fmt.value


ONE_EVALUATION = (
    "--reference",
    "--field",
    "--nodata",
    "--classes",
    "--mat-key",
    "--all-touched",
    "--strata",
    "--plot",
)


def _reports_only(*values: Any) -> None:
    """--summary reads reports: refuse the options of one evaluation, whose `values` (in the order of
    ONE_EVALUATION) are None when not given."""
    conflicts = [name for name, value in zip(ONE_EVALUATION, values, strict=True) if value is not None]
    if conflicts:
        raise CfiptUsageError(f"--summary reads JSON reports only; drop {', '.join(conflicts)}")


def _one_map(paths: list[Path] | None) -> Path:
    if len(paths or []) != 1:
        raise CfiptUsageError("give one MAP (or --summary with the JSON reports of several runs)")
    return (paths or [])[0]


def _given_reference(reference: str | None) -> str:
    if reference is None:
        raise CfiptUsageError("--reference is required: a scene folder, a label raster or a vector file")
    return reference


def command(
    inputs: Maps = None,
    reference: Reference = None,
    field: Field = None,
    nodata: Nodata = None,
    classes: Classes = None,
    mat_key: MatKeys = None,
    all_touched: AllTouched = False,
    strata: Strata = None,
    out: Out = None,
    fmt: Format = None,
    plot: Plot = None,
    summary: Summary = False,
    json_out: JsonOut = False,
    overwrite: Overwrite = False,
) -> None:
    """Accuracy of a classification map against a reference: OA, AA, kappa, per-class figures.

    On a validation sample of points with a design (cfipt sample), also the area-adjusted accuracy and
    class areas with standard errors and 95 % confidence intervals (Olofsson et al. 2014).

    MAP is the classification map (GeoTIFF); with --summary, the MAPs are the JSON reports of several
    runs of one experiment (same class table).

    Examples:

      cfipt evaluate map.tif --reference scene/ --out report

      cfipt evaluate map.tif --reference roads.gpkg --field landcover --json

      cfipt evaluate map.tif --reference Trento_gt.mat

      cfipt evaluate map.tif --reference samples.gpkg --field reference --out report

      cfipt evaluate --summary runs/*/report.json --out summary
    """
    from cfipt_cli.evaluate import pipeline, reports
    from cfipt_cli.evaluate.request import EvaluationRequest

    stdout_format = _stdout_format(fmt, json_out)
    outputs = pipeline.ReportOutputs(out, plot, overwrite)
    if summary:
        _reports_only(reference, field, nodata, classes, mat_key or None, all_touched or None, strata, plot)
        text = reports.render_summary(pipeline.run_summary(inputs or [], outputs), stdout_format)
    else:
        request = EvaluationRequest(
            _one_map(inputs),
            Path(_given_reference(reference)),
            field=field,
            nodata=nodata,
            all_touched=all_touched,
            map_classes=classes,
            mat_keys=tuple(mat_key or ()),
            strata=strata,
        )
        text = reports.render(pipeline.run_evaluation(request, outputs), stdout_format)
    sys.stdout.write(text)
