"""`cfipt prepare`: co-register HSI + LiDAR/SAR onto the HSI grid, rasterise and split labels -> scene/."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import (
    CreationOptions,
    JsonOut,
    Overwrite,
    SeedOpt,
    parse_creation_options,
    print_report,
)

PathList = list[Path] | None

HsiOpt = Annotated[
    Path,
    typer.Option(
        "--hsi",
        help="Hyperspectral raster (GDAL raster or .mat); its grid is the scene grid.",
        metavar="FILE",
    ),
]
LidarOpt = Annotated[
    PathList, typer.Option("--lidar", help="LiDAR raster, e.g. a DSM (repeatable).", metavar="FILE")
]
SarOpt = Annotated[PathList, typer.Option("--sar", help="SAR raster (repeatable).", metavar="FILE")]
LabelsOpt = Annotated[
    PathList,
    typer.Option(
        "--labels",
        help="Training labels: vector layer (shp/gpkg/geojson) or label raster (0 = unlabelled); "
        "repeatable, classes matched by name across the files.",
        metavar="FILE",
    ),
]
LabelFieldOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--label-field",
        help="Attribute of the vector labels holding class names or integer ids: once for every vector "
        "layer, or once per vector --labels file in their order.",
        metavar="NAME",
    ),
]
TestLabelsOpt = Annotated[
    Path | None,
    typer.Option("--test-labels", help="Independent test labels (same kind as --labels).", metavar="FILE"),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Scene folder to write.", metavar="DIR")]
TrainPerClassOpt = Annotated[
    str,
    typer.Option(
        "--train-per-class",
        help="Training pixels per class, or 'all' (every --labels pixel trains; test with --test-labels).",
        metavar="N|all",
    ),
]
SplitOpt = Annotated[
    str,
    typer.Option(
        "--split",
        help="random (paper protocol) or blocks (test patches never overlap training patches).",
        metavar="MODE",
    ),
]
PatchSizeOpt = Annotated[
    int,
    typer.Option(
        "--patch-size",
        help="Patch size p; the blocks split keeps test pixels at least p pixels from training pixels.",
        metavar="N",
    ),
]
BlockSizeOpt = Annotated[
    int, typer.Option("--block-size", help="Block side in pixels for --split blocks.", metavar="N")
]
AllTouchedOpt = Annotated[
    bool,
    typer.Option(
        "--all-touched",
        "-a",
        help="Burn every pixel a polygon touches, not only those whose centre is inside.",
    ),
]
ResamplingOpt = Annotated[
    str,
    typer.Option(
        "--resampling",
        help="Resampling of LiDAR/SAR onto the HSI grid (rasterio names: bilinear, cubic, average, nearest...).",
        metavar="METHOD",
    ),
]
NodataOpt = Annotated[
    float | None,
    typer.Option(
        "--nodata",
        help="Nodata value of the HSI input (overrides the file's own); LiDAR/SAR take --lidar-nodata, "
        "--sar-nodata.",
        metavar="VALUE",
    ),
]
LidarNodataOpt = Annotated[
    float | None,
    typer.Option(
        "--lidar-nodata", help="Nodata value of the LiDAR rasters (overrides theirs).", metavar="VALUE"
    ),
]
SarNodataOpt = Annotated[
    float | None,
    typer.Option("--sar-nodata", help="Nodata value of the SAR rasters (overrides theirs).", metavar="VALUE"),
]
ClassNamesOpt = Annotated[
    Path | None,
    typer.Option(
        "--class-names", help="CSV (id,name[,#rrggbb]) or JSON file naming the classes.", metavar="FILE"
    ),
]
MatKeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mat-key",
        help="Variable to read from .mat inputs when several could be the image (repeatable; "
        "each file uses the first key it holds).",
        metavar="NAME",
    ),
]


def command(
    hsi: HsiOpt,
    lidar: LidarOpt = None,
    sar: SarOpt = None,
    labels: LabelsOpt = None,
    label_field: LabelFieldOpt = None,
    test_labels: TestLabelsOpt = None,
    out: OutOpt = Path("scene"),
    train_per_class: TrainPerClassOpt = "40",
    seed: SeedOpt = 0,
    split: SplitOpt = "random",
    patch_size: PatchSizeOpt = 11,
    block_size: BlockSizeOpt = 64,
    all_touched: AllTouchedOpt = False,
    resampling: ResamplingOpt = "bilinear",
    nodata: NodataOpt = None,
    lidar_nodata: LidarNodataOpt = None,
    sar_nodata: SarNodataOpt = None,
    class_names: ClassNamesOpt = None,
    mat_key: MatKeyOpt = None,
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
    from cfipt_cli.prepare.pipeline import prepare
    from cfipt_cli.prepare.request import LabelOptions, OutputOptions, PrepareRequest, SceneInputs
    from cfipt_cli.prepare.split import SplitParams, parse_train_per_class

    output = OutputOptions(out, parse_creation_options(co), overwrite, progress=sys.stderr.isatty())
    request = PrepareRequest(
        SceneInputs(hsi, lidar or [], sar or [], nodata, lidar_nodata, sar_nodata, mat_key or [], resampling),
        LabelOptions(labels or None, label_field or None, test_labels, all_touched, class_names),
        SplitParams(split, parse_train_per_class(train_per_class), seed, patch_size, block_size),
        output,
    )
    print_report(prepare(request), json_out, _print_table)


def _split_caption(summary: dict[str, Any]) -> str:
    """How the pixels were split: a seeded draw, or no draw at all (`--train-per-class all`)."""
    if summary["train_per_class"] == "all":
        tested = (
            "test pixels from --test-labels"
            if summary["test_labels"]
            else "no test pixels (no --test-labels)"
        )
        return f"every labelled pixel trains; {tested}"
    caption = f"split {summary['split']}, seed {summary['seed']}"
    return caption + ("; test pixels from --test-labels" if summary["test_labels"] else "")


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
    caption = _split_caption(summary)
    if summary["excluded"]:
        caption += f", {summary['excluded']} labelled px left out near training pixels"
    table.caption = caption
    Console(stderr=True, soft_wrap=True).print(table)
