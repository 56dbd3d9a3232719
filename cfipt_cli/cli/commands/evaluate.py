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


def _stdout_format(fmt: ReportFormat | None, json_out: bool) -> str:
    if fmt is None:
        return "json" if json_out else "md"
    if json_out and fmt is not ReportFormat.json:
        raise CfiptUsageError(f"--json and --format {fmt.value} contradict each other; give one")
    return fmt.value


def _report_outputs(out: Path | None, suffixes: tuple[str, ...], plot: Path | None) -> list[Any]:
    """`--out BASE` (one file per suffix) and `--plot`, as the output policy sees them."""
    from cfipt_cli.evaluate import reports
    from cfipt_cli.io import outputs as policy

    targets = reports.output_paths(out, suffixes) if out is not None else []
    items = [policy.Output(t, "--out", policy.REPORT_KINDS[t.suffix]) for t in targets]
    return items + ([policy.Output(plot, "--plot", policy.PNG)] if plot is not None else [])


def _summary(paths: list[Path], out: Path | None, stdout_format: str, overwrite: bool) -> None:
    from cfipt_cli.evaluate import reports
    from cfipt_cli.evaluate.pipeline import summarise_runs
    from cfipt_cli.io import outputs as policy

    if not paths:
        raise CfiptUsageError("--summary needs the JSON reports of the runs, e.g. runs/*/report.json")
    items = _report_outputs(out, reports.SUMMARY_SUFFIXES, None)
    policy.check_outputs(items, [("report", p) for p in paths], overwrite)  # before any work
    with policy.locked_outputs([i.path for i in items]):
        result = summarise_runs(paths)
        if out is not None:
            reports.write_summary_files(result, out, overwrite)
    sys.stdout.write(reports.render_summary(result, stdout_format))


def _evaluation(
    map_path: Path,
    reference: str,
    options: dict[str, Any],
    out: Path | None,
    plot: Path | None,
    stdout_format: str,
    overwrite: bool,
) -> None:
    from cfipt_cli.evaluate import reports
    from cfipt_cli.evaluate.pipeline import evaluate_map, load_class_table
    from cfipt_cli.io import outputs as policy

    items = _report_outputs(out, reports.REPORT_SUFFIXES, plot)
    classes = options.pop("classes")
    inputs = [("map", map_path), ("reference", reference), *([("--classes", classes)] if classes else [])]
    policy.check_outputs(items, inputs, overwrite)  # before any work
    with policy.locked_outputs([i.path for i in items]):
        map_classes = load_class_table(classes) if classes is not None else None
        report = evaluate_map(map_path, reference, map_classes=map_classes, **options).to_json()
        if out is not None:
            reports.write_report_files(report, out, overwrite)
        if plot is not None:
            reports.plot_confusion(report, plot, overwrite)
    sys.stdout.write(reports.render(report, stdout_format))


def command(
    inputs: Annotated[
        list[Path] | None,
        # Described in the docstring: Typer would list a variadic argument as "MAP <list[Path]>".
        typer.Argument(metavar="MAP", show_default=False, hidden=True),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            "-r",
            metavar="REF",
            help="A prepared scene folder (its test labels), a label raster, a vector file (with --field) "
            "or a .mat label array of the map's shape.",
        ),
    ] = None,
    field: Annotated[
        str | None,
        typer.Option("--field", metavar="NAME", help="Vector attribute with class names or ids."),
    ] = None,
    nodata: Annotated[
        float | None,
        typer.Option("--nodata", help="Map value to leave out, besides the map's nodata and 0."),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option(
            "--classes",
            metavar="PATH",
            help="Class table of the map when it has no .aux.xml: a scene or model folder or its JSON.",
        ),
    ] = None,
    mat_key: Annotated[
        list[str] | None,
        typer.Option(
            "--mat-key",
            metavar="KEY",
            help="Variable to read from a .mat reference when several could be the labels (repeatable; "
            "the first key the file holds is used).",
        ),
    ] = None,
    all_touched: Annotated[
        bool,
        typer.Option("-a", "--all-touched", help="Rasterise a vector reference with every touched pixel."),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="BASE",
            help="Write BASE.json, BASE.csv, BASE.md and BASE.png (or the summary).",
        ),
    ] = None,
    fmt: Annotated[
        ReportFormat | None, typer.Option("--format", help="What stdout shows: md (default), json or csv.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", metavar="PNG", help="Save the row-normalised confusion matrix."),
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary", help="Mean and standard deviation over the given JSON reports.")
    ] = False,
    json_out: JsonOut = False,
    overwrite: Overwrite = False,
) -> None:
    """Accuracy of a classification map against a reference: OA, AA, kappa, per-class figures.

    MAP is the classification map (GeoTIFF); with --summary, the MAPs are the JSON reports of several
    runs of one experiment (same class table).

    Examples:

      cfipt evaluate map.tif --reference scene/ --out report

      cfipt evaluate map.tif --reference roads.gpkg --field landcover --json

      cfipt evaluate map.tif --reference Trento_gt.mat

      cfipt evaluate --summary runs/*/report.json --out summary
    """
    paths = list(inputs or [])
    stdout_format = _stdout_format(fmt, json_out)
    options = {
        "field": field,
        "nodata": nodata,
        "classes": classes,
        "all_touched": all_touched,
        "mat_keys": list(mat_key or []),
    }
    if summary:
        flags = {
            "--reference": reference,
            "--field": field,
            "--nodata": nodata,
            "--classes": classes,
            "--mat-key": mat_key or None,
            "--all-touched": all_touched or None,
            "--plot": plot,
        }
        conflicts = [name for name, value in flags.items() if value is not None]
        if conflicts:
            raise CfiptUsageError(f"--summary reads JSON reports only; drop {', '.join(conflicts)}")
        _summary(paths, out, stdout_format, overwrite)
        return
    if len(paths) != 1:
        raise CfiptUsageError("give one MAP (or --summary with the JSON reports of several runs)")
    if reference is None:
        raise CfiptUsageError("--reference is required: a scene folder, a label raster or a vector file")
    _evaluation(paths[0], reference, options, out, plot, stdout_format, overwrite)
