"""`cfipt sample`: a stratified random validation sample of a classification map -> points + design."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import JsonOut, Overwrite, SeedOpt, print_report
from cfipt_cli.errors import CfiptUsageError

MapArg = Annotated[Path, typer.Argument(metavar="MAP", help="Classification map (GeoTIFF of class ids).")]
OutOpt = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="FILE",
        help="Points to write (.gpkg, .geojson or .fgb); FILE.design.json and a QGIS style go beside it.",
    ),
]
SizeOpt = Annotated[int | None, typer.Option("-n", metavar="N", help="Sample size (or --expected-ua).")]
ExpectedUaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--expected-ua",
        metavar="[NAME=]U",
        help="Expected user's accuracy for the sample-size formula: one value for every class, or "
        "NAME=U per class (repeatable; a bare U is for the classes not named).",
    ),
]
TargetSeOpt = Annotated[
    float, typer.Option("--target-se", metavar="SE", help="Target standard error of the overall accuracy.")
]
AllocationOpt = Annotated[
    str | None,
    typer.Option(
        "--allocation",
        metavar="HOW",
        help="proportional (default), equal, min-per-class or given (default with --per-class).",
        show_default=False,
    ),
]
MinPerClassOpt = Annotated[
    int | None,
    typer.Option(
        "--min-per-class",
        metavar="M",
        help="Points per class at least (min-per-class; default 50, or all of a smaller class).",
        show_default=False,
    ),
]
PerClassOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--per-class", metavar="NAME=N", help="Points of one class (repeatable; --allocation given)."
    ),
]
ClassesOpt = Annotated[
    Path | None,
    typer.Option(
        "--classes",
        metavar="PATH",
        help="Class table of the map when it has no .aux.xml: a scene or model folder or its JSON.",
    ),
]
ExcludeOpt = Annotated[
    Path | None,
    typer.Option(
        "--exclude", metavar="SCENE", help="Leave out the training and test pixels of this prepared scene."
    ),
]


def _pairs(option: str, items: list[str] | None, value: type, bare: bool = False) -> tuple[Any, ...]:
    """["Water=0.9", "0.8"] -> (("Water", 0.9), (None, 0.8)); a bare value only where `bare` allows."""
    pairs = []
    for item in items or []:
        name, sep, text = item.rpartition("=")
        if not sep and not bare:
            raise CfiptUsageError(f"{option} expects NAME=N, got {item!r}")
        try:
            pairs.append((name.strip() if sep else None, value(text.strip())))
        except ValueError:
            raise CfiptUsageError(f"{option} {item}: {text!r} is not a number") from None
    return tuple(pairs)


def command(
    map_path: MapArg,
    out: OutOpt = Path("samples.gpkg"),
    n: SizeOpt = None,
    expected_ua: ExpectedUaOpt = None,
    target_se: TargetSeOpt = 0.01,
    allocation: AllocationOpt = None,
    min_per_class: MinPerClassOpt = None,
    per_class: PerClassOpt = None,
    seed: SeedOpt = 0,
    classes: ClassesOpt = None,
    exclude: ExcludeOpt = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Draw a stratified random validation sample from a classification map.

    The strata are the map's classes (its .aux.xml class names, or --classes); nodata and 0 are never
    sampled. Points sit at pixel centres in the map's CRS, with the fields sample_id, stratum, map_id,
    map_class and reference (empty: fill in the reference class name, e.g. in QGIS). The design
    (N_h per stratum, pixel area, seed, map checksum) goes to FILE.design.json, for cfipt evaluate.

    Examples:

      cfipt sample map.tif -n 600 --allocation min-per-class --out samples.gpkg

      cfipt sample map.tif --expected-ua 0.85 --expected-ua Water=0.95 --target-se 0.01

      cfipt sample map.tif --per-class Water=50 --per-class Forest=100 --exclude scene/
    """
    from cfipt_cli.sample.pipeline import run_sample
    from cfipt_cli.sample.request import SampleRequest, SampleSize

    size = SampleSize(
        n,
        _pairs("--expected-ua", expected_ua, float, bare=True),
        target_se,
        allocation,
        min_per_class,
        _pairs("--per-class", per_class, int),
    )
    request = SampleRequest(map_path, out, size, seed, classes, exclude, overwrite)
    print_report(run_sample(request), json_out, _print_table)


def _print_table(summary: dict[str, Any]) -> None:
    """Per class: its frame pixels N_h, its share W_h, its sample size n_h (a rich table on stderr)."""
    from rich.console import Console
    from rich.table import Table

    title = (
        f"{summary['out']}: {summary['sample_size']} points from {summary['map']} "
        f"({summary['frame_pixels']} px to draw from, {summary['crs']})"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("id", "right"),
        ("class", "left"),
        ("N_h", "right"),
        ("W_h", "right"),
        ("n_h", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in summary["classes"]:
        table.add_row(str(c["id"]), c["name"], str(c["pixels"]), f"{c['weight']:.4f}", str(c["sample_size"]))
    table.add_row("", "total", str(summary["frame_pixels"]), "1", str(summary["sample_size"]))
    caption = f"allocation {summary['allocation']}, seed {summary['seed']}"
    if summary["expected_ua"] is not None:
        caption += f", n from the formula (target SE of OA {summary['target_se']})"
    if summary["excluded_scene"] is not None:
        caption += f", {summary['excluded_pixels']} labelled px of {summary['excluded_scene']} left out"
    table.caption = caption
    Console(stderr=True, soft_wrap=True).print(table)
