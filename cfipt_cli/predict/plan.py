"""Every check of a prediction, each made once before any block is computed (and before the model loads).

In order: the `--co` options against GDAL's list (`validated_outputs`, a usage error before anything is
opened), the scene's bands against the model's (`check_compatible`), the output policy
(`check_output_paths`), and GDAL's probe of every raster with exactly the options and dtype it is
written with (`check_output_options`). `plan_prediction` runs all but the first and returns the
`PredictPlan` the run works from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cfipt_cli.errors import CheckpointError, DataError
from cfipt_cli.io import mapio
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.creation_options import validate_creation_options
from cfipt_cli.io.gtiff import class_map_dtype
from cfipt_cli.io.rasters import Grid
from cfipt_cli.log import get_logger
from cfipt_cli.predict.settings import PredictOutputs

if TYPE_CHECKING:
    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.contracts.scene import Scene
    from cfipt_cli.predict.blocks import SceneRasters

log = get_logger(__name__)


@dataclass(frozen=True)
class PredictPlan:
    """A prediction that passed every check: the scene, the model's description, the outputs (their
    `--co` options canonical), the scene's pixel grid, which every output shares, and which pixels are
    classified (`--pixels`)."""

    scene: Scene
    info: ModelInfo
    outputs: PredictOutputs
    grid: Grid
    pixels: str = "all"


def validated_outputs(outputs: PredictOutputs) -> PredictOutputs:
    """`outputs` with its `--co` options checked against GDAL's list and canonical (usage error, exit 2)."""
    return replace(outputs, creation_options=validate_creation_options(outputs.creation_options))


def check_compatible(scene: Scene, info: ModelInfo, stack_count: int) -> None:
    """Fail with one clear line when the scene's bands are not the ones the model was trained on."""
    info.check_scene(scene)
    n_bands = len(info.band_layout)
    if stack_count != n_bands:
        raise DataError(
            f"{scene.stack_path} has {stack_count} bands but scene.json describes {len(scene.band_layout)} "
            f"and the model expects {n_bands}; prepare the scene again"
        )
    if len(info.mean) != n_bands or len(info.std) != n_bands:
        raise CheckpointError(f"{info.root}: normalisation statistics do not match its {n_bands} bands")


def check_output_paths(outputs: PredictOutputs, scene: Scene, model_dir: Path | None) -> None:
    """The output policy (`cfipt_cli.io.outputs`): no output over an input, only cfipt's replaced."""
    named = [
        ("--out", outputs.map_path, policy.CLASS_MAP),
        ("--proba", outputs.proba_path, policy.GEOTIFF),
        ("--confidence", outputs.confidence_path, policy.GEOTIFF),
        ("--uncertainty", outputs.uncertainty_path, policy.GEOTIFF),
        ("--quicklook", outputs.quicklook_path, policy.PNG),
    ]
    items = [policy.Output(Path(p), flag, kind) for flag, p, kind in named if p is not None]
    inputs = [("scene folder", scene.root), *([("model folder", model_dir)] if model_dir else [])]
    policy.check_outputs(items, inputs, outputs.overwrite)


def check_output_options(grid: Grid, classes: ClassTable, outputs: PredictOutputs) -> list[str]:
    """GDAL accepts `--co` for every raster to write: each output is probed with exactly the options and
    dtype it will be written with, the class map with its lossless subset in uint8/uint16
    (`mapio.class_map_options`), `--proba`, `--confidence` and `--uncertainty` with every option in
    float32. Returns the
    warnings to give (options that apply to the float rasters only)."""
    co, max_id = outputs.creation_options, classes.max_id
    notes = mapio.check_class_map_options(co, max_id, outputs.floats, outputs.map_path.name)
    map_co = mapio.class_map_options(co, max_id)
    mapio.check_creation_options(
        grid, class_map_dtype(max_id), 1, map_co, outputs.map_path.name, max_value=max_id
    )
    if outputs.proba_path is not None:
        band = {"INTERLEAVE": "BAND"}
        mapio.check_creation_options(
            grid, "float32", len(classes), co, outputs.proba_path.name, defaults=band
        )
    for single in (outputs.confidence_path, outputs.uncertainty_path):
        if single is not None:
            mapio.check_creation_options(grid, "float32", 1, co, single.name)
    return notes


def plan_prediction(
    scene: Scene,
    info: ModelInfo,
    outputs: PredictOutputs,
    rasters: SceneRasters,
    model_dir: Path | None = None,
) -> PredictPlan:
    """Check a prediction of `scene` with the model `info` describes into `outputs` (as
    `validated_outputs` returns them); `rasters` are the scene's, open (with the pixels to classify);
    `model_dir` is an input too."""
    check_compatible(scene, info, rasters.stack.count)  # a wrong model is the first thing to say
    check_output_paths(outputs, scene, model_dir)
    grid = rasters.grid
    notes = check_output_options(grid, info.classes, outputs)
    for note in notes:  # only once every output passed: bad input stays one line
        log.warning("%s", note)
    return PredictPlan(scene, info, outputs, grid, rasters.pixels)
