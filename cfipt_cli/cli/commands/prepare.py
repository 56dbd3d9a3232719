"""`cfipt prepare`: co-register HSI + LiDAR/SAR onto the HSI grid, rasterise and split labels -> scene/."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import CreationOptions, JsonOut, Overwrite, SeedOpt, parse_creation_options

PathList = list[Path] | None


def command(
    hsi: Annotated[
        Path,
        typer.Option(
            "--hsi",
            help="Hyperspectral raster (GDAL raster or .mat); its grid is the scene grid.",
            metavar="FILE",
        ),
    ],
    lidar: Annotated[
        PathList, typer.Option("--lidar", help="LiDAR raster, e.g. a DSM (repeatable).", metavar="FILE")
    ] = None,
    sar: Annotated[PathList, typer.Option("--sar", help="SAR raster (repeatable).", metavar="FILE")] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Training labels: vector layer (shp/gpkg/geojson) or label raster (0 = unlabelled).",
            metavar="FILE",
        ),
    ] = None,
    label_field: Annotated[
        str | None,
        typer.Option(
            "--label-field",
            help="Attribute of the vector labels holding class names or integer ids.",
            metavar="NAME",
        ),
    ] = None,
    test_labels: Annotated[
        Path | None,
        typer.Option(
            "--test-labels", help="Independent test labels (same kind as --labels).", metavar="FILE"
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Scene folder to write.", metavar="DIR")] = Path(
        "scene"
    ),
    train_per_class: Annotated[
        int, typer.Option("--train-per-class", help="Training pixels per class.", metavar="N")
    ] = 40,
    seed: SeedOpt = 0,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="random (paper protocol) or blocks (test patches never overlap training patches).",
            metavar="MODE",
        ),
    ] = "random",
    patch_size: Annotated[
        int,
        typer.Option(
            "--patch-size",
            help="Patch size p; the blocks split keeps test pixels at least p pixels from training pixels.",
            metavar="N",
        ),
    ] = 11,
    block_size: Annotated[
        int, typer.Option("--block-size", help="Block side in pixels for --split blocks.", metavar="N")
    ] = 64,
    all_touched: Annotated[
        bool,
        typer.Option(
            "--all-touched",
            "-a",
            help="Burn every pixel a polygon touches, not only those whose centre is inside.",
        ),
    ] = False,
    resampling: Annotated[
        str,
        typer.Option(
            "--resampling",
            help="Resampling of LiDAR/SAR onto the HSI grid "
            "(rasterio names: bilinear, cubic, average, nearest...).",
            metavar="METHOD",
        ),
    ] = "bilinear",
    nodata: Annotated[
        float | None,
        typer.Option(
            "--nodata",
            help="Nodata value of the HSI input (overrides the file's own); LiDAR/SAR take --lidar-nodata, "
            "--sar-nodata.",
            metavar="VALUE",
        ),
    ] = None,
    lidar_nodata: Annotated[
        float | None,
        typer.Option(
            "--lidar-nodata", help="Nodata value of the LiDAR rasters (overrides theirs).", metavar="VALUE"
        ),
    ] = None,
    sar_nodata: Annotated[
        float | None,
        typer.Option(
            "--sar-nodata", help="Nodata value of the SAR rasters (overrides theirs).", metavar="VALUE"
        ),
    ] = None,
    class_names: Annotated[
        Path | None,
        typer.Option(
            "--class-names", help="CSV (id,name[,#rrggbb]) or JSON file naming the classes.", metavar="FILE"
        ),
    ] = None,
    mat_key: Annotated[
        list[str] | None,
        typer.Option(
            "--mat-key",
            help="Variable to read from .mat inputs when several could be the image (repeatable; "
            "each file uses the first key it holds).",
            metavar="NAME",
        ),
    ] = None,
    co: CreationOptions = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Prepare a scene folder for training and prediction.

    Puts the LiDAR and/or SAR rasters on the HSI grid (rasterio.warp), builds the valid-data mask and
    per-band statistics, rasterises the labels and splits them into training and test pixels. Inputs are
    GDAL rasters or benchmark .mat files (no georeference: the pixel grids must match).

    Example: cfipt prepare --hsi h.tif --lidar dsm.tif --labels train.gpkg --label-field class
    """
    from cfipt_cli.prepare.pipeline import prepare_scene

    summary = prepare_scene(
        hsi,
        lidar=lidar or [],
        sar=sar or [],
        labels=labels,
        label_field=label_field,
        test_labels=test_labels,
        out=out,
        train_per_class=train_per_class,
        seed=seed,
        split=split,
        patch_size=patch_size,
        block_size=block_size,
        all_touched=all_touched,
        resampling=resampling,
        hsi_nodata=nodata,
        lidar_nodata=lidar_nodata,
        sar_nodata=sar_nodata,
        class_names=class_names,
        mat_keys=mat_key or [],
        creation_options=parse_creation_options(co),
        overwrite=overwrite,
        progress=sys.stderr.isatty(),
    )
    if logging.getLogger("cfipt").getEffectiveLevel() <= logging.WARNING:
        _print_table(summary)
    if json_out:
        print(json.dumps(summary, indent=2))


def _print_table(summary: dict[str, Any]) -> None:
    """The summary as a rich table on stderr."""
    from rich.console import Console
    from rich.table import Table

    bands = summary["bands"]
    title = (
        f"{summary['out']}: {summary['width']} x {summary['height']} px, {summary['crs']}, "
        f"{bands['hsi']} HSI + {bands['lidar']} LiDAR + {bands['sar']} SAR bands, "
        f"{summary['valid_pixels']} valid px"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (("id", "right"), ("class", "left"), ("train", "right"), ("test", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in summary["classes"]:
        table.add_row(str(c["id"]), c["name"], str(c["train"]), str(c["test"]))
    table.add_row("", "total", str(summary["train_pixels"]), str(summary["test_pixels"]))
    caption = f"split {summary['split']}, seed {summary['seed']}"
    if summary["excluded"]:
        caption += f", {summary['excluded']} labelled px left out near training pixels"
    table.caption = caption
    Console(stderr=True, soft_wrap=True).print(table)
