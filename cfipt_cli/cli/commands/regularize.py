"""`cfipt regularize`: a classification map cleaned by majority vote and sieving -> a map like it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import CreationOptions, JsonOut, Overwrite, print_report

MapArg = Annotated[
    Path, typer.Argument(metavar="MAP", help="Classification map (GeoTIFF of class ids with its .aux.xml).")
]
OutOpt = Annotated[
    Path,
    typer.Option(
        "--out", "-o", metavar="FILE", help="Cleaned map to write (GeoTIFF; its .aux.xml and .qml beside)."
    ),
]
RadiusOpt = Annotated[
    int | None,
    typer.Option(
        "--radius",
        metavar="R",
        help="Majority vote in the disc of radius R (OTB's ball): the most frequent class wins, ties keep the pixel's.",
        show_default=False,
    ),
]
SieveOpt = Annotated[
    int | None,
    typer.Option(
        "--sieve",
        metavar="N",
        help="Merge connected regions of fewer than N pixels into their largest neighbour (after --radius).",
        show_default=False,
    ),
]
ConnectivityOpt = Annotated[
    int, typer.Option("--connectivity", metavar="4|8", help="Neighbours that connect a region for --sieve.")
]


def command(
    map_path: MapArg,
    out: OutOpt = Path("clean.tif"),
    radius: RadiusOpt = None,
    sieve: SieveOpt = None,
    connectivity: ConnectivityOpt = 4,
    co: CreationOptions = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Clean a classification map: majority vote (--radius) and/or removal of small regions (--sieve).

    Nodata never wins a vote and stays nodata. The cleaned map keeps the map's classes (palette,
    names), nodata, CRS, transform, tiling and compression, with a QGIS style listing its classes.

    Examples:

      cfipt regularize map.tif --radius 1 --out clean.tif

      cfipt regularize map.tif --radius 2 --sieve 20 --connectivity 8 --out clean.tif
    """
    from cfipt_cli.cli.options import parse_creation_options
    from cfipt_cli.regularize.pipeline import run_regularize
    from cfipt_cli.regularize.request import RegularizeRequest

    request = RegularizeRequest(
        map_path, out, radius, sieve, connectivity, parse_creation_options(co), overwrite
    )
    print_report(run_regularize(request), json_out, _print_table)


def _print_table(summary: dict[str, Any]) -> None:
    """What each step changed, and the pixels per class after it (a rich table on stderr)."""
    from rich.console import Console
    from rich.table import Table

    steps = []
    if summary["radius"] is not None:
        steps.append(f"majority (radius {summary['radius']}) changed {summary['changed_by_majority']} px")
    if summary["sieve"] is not None:
        steps.append(
            f"sieve (< {summary['sieve']} px, {summary['connectivity']}-connected) changed "
            f"{summary['changed_by_sieve']} px"
        )
    table = Table(title=f"{summary['out']} from {summary['map']}: {'; '.join(steps)}", title_justify="left")
    for name, justify in (("id", "right"), ("class", "left"), ("pixels", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in summary["classes"]:
        table.add_row(str(c["id"]), c["name"], str(c["pixels"]))
    Console(stderr=True, soft_wrap=True).print(table)
