"""`cfipt predict`: a classification map (GeoTIFF) of a whole prepared scene with a trained model."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import AmpOpt, CreationOptions, DeviceOpt, JsonOut, Overwrite, print_summary
from cfipt_cli.predict.settings import DEFAULT_DIST_TIMEOUT_S

SceneArg = Annotated[
    Path, typer.Argument(help="A prepared scene folder (cfipt prepare).", metavar="SCENE", show_default=False)
]
MapOut = Annotated[
    Path,
    typer.Option("--out", "-o", help="The classification map (GeoTIFF).", show_default=False, metavar="FILE"),
]
ModelDir = Annotated[
    Path, typer.Option("--model", "-m", help="The model folder (cfipt train).", metavar="DIR")
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        min=1,
        help="Pixels per forward pass; default 256 on CUDA, 64 on CPU.",
        metavar="N",
        show_default=False,
    ),
]
BlockSize = Annotated[
    int,
    typer.Option(
        "--block-size", min=1, help="Side of the square blocks read and written at once.", metavar="N"
    ),
]
DistTimeout = Annotated[
    float,
    typer.Option(
        "--dist-timeout",
        min=1,
        help="Under torchrun: seconds a rank may wait for the others (its last collective).",
        metavar="SECONDS",
    ),
]
ProbaOut = Annotated[
    Path | None,
    typer.Option(
        "--proba", help="Also write per-class probabilities (float32, a band per class).", metavar="FILE"
    ),
]
ConfidenceOut = Annotated[
    Path | None,
    typer.Option(
        "--confidence", help="Also write the winning class's probability (float32).", metavar="FILE"
    ),
]
UncertaintyOut = Annotated[
    Path | None,
    typer.Option(
        "--uncertainty",
        help="Also write the model's uncertainty per pixel (float32, 0 = sure, 1 = unsure).",
        metavar="FILE",
    ),
]
UncertaintyMeasure = Annotated[
    str,
    typer.Option(
        "--uncertainty-measure",
        help="entropy (normalised), margin (1 - best + second best) or least (1 - best probability).",
        metavar="MEASURE",
    ),
]
Pixels = Annotated[
    str,
    typer.Option(
        "--pixels",
        help="Classify all valid pixels, or only the scene's test, train or labelled (either) pixels.",
        metavar="WHICH",
    ),
]
QuicklookOut = Annotated[
    Path | None,
    typer.Option(
        "--quicklook", help="Also write a PNG picture of the map (at most 1024 px).", metavar="FILE"
    ),
]


def _progress() -> Any:
    """A tqdm bar on stderr when it is a terminal (rank 0 only under torchrun), else None."""
    if not sys.stderr.isatty() or os.environ.get("RANK", "0") != "0":
        return None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def on_block(_index: int, done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, unit="block", desc="predict", file=sys.stderr)
        bar["bar"].update(1)
        if done == total:
            bar["bar"].close()

    return on_block


def _summary_line(summary: dict[str, Any]) -> str:
    """One human line: the map, its size, what was classified, how fast."""
    rate = summary.get("pixels_per_second")
    return (
        f"{summary['outputs']['map']}: {summary['width']} x {summary['height']}, "
        f"{summary['pixels_classified']} pixels classified, {summary['pixels_nodata']} nodata, "
        f"{summary['blocks_computed']} of {summary['blocks']} blocks computed"
        + (f" ({rate:.0f} pixels/s)" if rate else "")
    )


def _report(summary: dict[str, Any], json_out: bool) -> None:
    """Like `cfipt train`: the human line on stderr (unless -q), the JSON summary on stdout; rank 0 only
    under torchrun."""
    if os.environ.get("RANK", "0") == "0":
        print_summary(_summary_line(summary), summary, json_out)


def command(
    scene: SceneArg,
    out: MapOut,
    model: ModelDir = Path("model"),
    batch_size: BatchSize = None,
    block_size: BlockSize = 512,
    device: DeviceOpt = "auto",
    amp: AmpOpt = None,
    dist_timeout: DistTimeout = DEFAULT_DIST_TIMEOUT_S,
    proba: ProbaOut = None,
    confidence: ConfidenceOut = None,
    uncertainty: UncertaintyOut = None,
    uncertainty_measure: UncertaintyMeasure = "entropy",
    quicklook: QuicklookOut = None,
    pixels: Pixels = "all",
    co: CreationOptions = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Classify every pixel of SCENE and write a georeferenced map with colours and class names.

    --pixels test classifies only the scene's test pixels (what evaluate scores), the rest nodata.
    --uncertainty writes where the model is unsure (what cfipt suggest ranks by).

    Blocks are read with a halo of p // 2, classified in batches and saved as they finish; rerunning a
    killed run resumes it. Under `torchrun --nproc-per-node N -m cfipt_cli predict ...` the ranks claim
    the blocks as they go (nodes sharing a filesystem too) and one map is written. On CUDA the default
    is bf16 autocast (--no-amp: fp32 with TF32) and batches of 256.

    Example: cfipt predict scene --model model --out map.tif --quicklook map.png
    """
    from cfipt_cli.cli.options import parse_creation_options
    from cfipt_cli.predict.pipeline import run_predict
    from cfipt_cli.predict.settings import PredictOutputs, PredictRequest, PredictSettings

    creation = parse_creation_options(co)
    outputs = PredictOutputs(
        out, proba, confidence, quicklook, creation, overwrite, uncertainty, uncertainty_measure
    )
    settings = PredictSettings(
        batch_size=batch_size, block_size=block_size, amp=amp, dist_timeout_s=dist_timeout
    )
    request = PredictRequest(scene, model, outputs, settings, device, pixels)
    _report(run_predict(request, on_block=_progress()), json_out)
