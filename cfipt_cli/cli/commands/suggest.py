"""`cfipt suggest`: the pixels to label next (most uncertain, spread, every class) -> points for QGIS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.commands.predict import BatchSize, BlockSize, ModelDir, SceneArg
from cfipt_cli.cli.options import DeviceOpt, JsonOut, Overwrite, SeedOpt, print_summary

OutOpt = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        metavar="FILE",
        help="Points to write (.gpkg, .geojson or .fgb); FILE.suggest.json and a QGIS style go beside it.",
    ),
]
CountOpt = Annotated[int, typer.Option("-n", metavar="N", help="How many pixels to suggest.")]
DistanceOpt = Annotated[
    int | None,
    typer.Option(
        "--min-distance",
        metavar="PX",
        help="No two suggestions closer than PX pixels (Chebyshev); default the model's patch size.",
        show_default=False,
    ),
]
MeasureOpt = Annotated[
    str | None,
    typer.Option(
        "--uncertainty-measure",
        metavar="MEASURE",
        help="entropy (default), margin or least; with --uncertainty, the raster's own.",
        show_default=False,
    ),
]
ProbaOpt = Annotated[
    Path | None,
    typer.Option("--proba", metavar="FILE", help="Reuse the --proba raster of a predict of SCENE."),
]
MapOpt = Annotated[
    Path | None,
    typer.Option("--map", metavar="FILE", help="Reuse the map of a predict of SCENE (with --uncertainty)."),
]
UncertaintyOpt = Annotated[
    Path | None,
    typer.Option("--uncertainty", metavar="FILE", help="Reuse the --uncertainty raster of that predict."),
]
ExcludeOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--exclude-sample",
        metavar="FILE",
        help="Never suggest a point of this validation sample (repeatable).",
    ),
]
LabelFieldOpt = Annotated[
    str | None,
    typer.Option(
        "--label-field",
        metavar="NAME",
        help="The empty field to fill in; default the scene's label field, else 'class'.",
        show_default=False,
    ),
]


def _line(summary: dict[str, Any]) -> str:
    shares = ", ".join(f"{name} {n}" for name, n in summary["per_class"].items())
    return (
        f"{summary['out']}: {summary['suggested']} pixels to label ({shares}), by {summary['measure']}, "
        f"at least {summary['min_distance']} px apart, from {summary['eligible_pixels']} eligible pixels; "
        f"fill in the field '{summary['label_field']}' and add the file to cfipt prepare --labels"
    )


def command(
    scene: SceneArg,
    model: ModelDir = Path("model"),
    out: OutOpt = Path("suggestions.gpkg"),
    n: CountOpt = 50,
    min_distance: DistanceOpt = None,
    uncertainty_measure: MeasureOpt = None,
    proba: ProbaOpt = None,
    map_path: MapOpt = None,
    uncertainty: UncertaintyOpt = None,
    exclude_sample: ExcludeOpt = None,
    label_field: LabelFieldOpt = None,
    seed: SeedOpt = 0,
    batch_size: BatchSize = None,
    block_size: BlockSize = 512,
    device: DeviceOpt = "auto",
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Suggest the N pixels of SCENE to label next: where the model is least sure, spread out.

    Most uncertain first, no two closer than --min-distance, every predicted class its share; never a
    training or test pixel of the scene, a nodata pixel or a point of --exclude-sample. The rasters of
    an earlier predict are reused when given (--proba, or --map with --uncertainty), else the model runs
    block by block. The points carry rank, map_class, probability, uncertainty and an empty label
    field; open them in QGIS, fill it in, and add the file to cfipt prepare --labels.

    Example: cfipt suggest scene --model model -n 60 --out suggestions.gpkg
    """
    from cfipt_cli.predict.settings import PredictSettings
    from cfipt_cli.suggest.pipeline import run_suggest
    from cfipt_cli.suggest.request import EarlierPrediction, SuggestRequest

    earlier = EarlierPrediction(proba, map_path, uncertainty)
    settings = PredictSettings(batch_size=batch_size, block_size=block_size)
    excluded = tuple(exclude_sample or ())
    request = SuggestRequest(
        scene,
        model,
        out,
        n,
        min_distance,
        seed,
        uncertainty_measure,
        earlier,
        excluded,
        label_field,
        device,
        settings,
        overwrite,
    )
    summary = run_suggest(request)
    print_summary(_line(summary), summary, json_out)
