"""`cfipt suggest`: the pixels to label next, most uncertain first, spread, every predicted class its share.

1. Every check first: the scene and the model (same bands), the output policy, the eligible pixels
   counted (`eligible`: N larger than them is an error naming how many there are), all before the
   model loads.
2. One pass over the scene block by block (`sources`: the rasters of an earlier predict, else the
   model) feeds a bounded pool of candidates (`candidates`).
3. The suggestions are chosen from the pool (`selection`) and written with their record and QGIS style
   (`writing`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from cfipt_cli.contracts.model import WEIGHTS_NAME, read_model_info
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.classes import name_key
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.rasters import Grid
from cfipt_cli.log import get_logger
from cfipt_cli.predict.blocks import Block, block_grid
from cfipt_cli.predict.plan import check_compatible
from cfipt_cli.suggest.candidates import CandidatePool, cell_side
from cfipt_cli.suggest.eligible import EligiblePixels, open_eligible
from cfipt_cli.suggest.request import SuggestRequest
from cfipt_cli.suggest.selection import select
from cfipt_cli.suggest.sources import measure_of, model_doubts, open_earlier, raster_doubts
from cfipt_cli.suggest.writing import Suggestions, label_field_of, planned_outputs, write_suggestions

log = get_logger(__name__)


def _scene_grid(scene: Scene, info: Any) -> Grid:
    import rasterio

    with rasterio.open(scene.stack_path) as stack:
        check_compatible(scene, info, stack.count)
        return Grid(stack.width, stack.height, stack.crs, stack.transform)


def _check_enough(eligible: EligiblePixels, blocks: list[Block], n: int) -> int:
    count = eligible.count(blocks)
    if n > count:
        raise DataError(
            f"-n {n} is more than the {count} eligible pixels of the scene (valid, neither a training nor "
            "a test pixel, nor a point of --exclude-sample); ask for fewer"
        )
    return count


def _pool(request: SuggestRequest, doubts: Any, eligible: EligiblePixels, distance: int) -> CandidatePool:
    pool = CandidatePool(cell_side(distance), keep=max(4096, 40 * request.n), seed=request.seed)
    for doubt in doubts:
        block = doubt.block
        ok = eligible.of(block) & (doubt.ids > 0) & np.isfinite(doubt.uncertainty)
        rows, cols = np.nonzero(ok)
        pool.add(
            doubt.ids[ok], rows + block.row, cols + block.col, doubt.uncertainty[ok], doubt.probability[ok]
        )
    return pool


def _warn_other_classes(scene: Scene, info: Any) -> None:
    """The points offer the model's class names; a scene of other names would get them as new classes."""
    scene_names, model_names = scene.classes.names, info.classes.names
    if scene_names and {name_key(n) for n in scene_names} != {name_key(n) for n in model_names}:
        log.warning(
            "the scene's classes (%s) are not the model's (%s): the points offer the model's names, which "
            "cfipt prepare adds to the scene's labels as classes of their own",
            ", ".join(scene_names),
            ", ".join(model_names),
        )


def _warn_short(found: int, asked: int, distance: int, grid: Grid) -> None:
    if found < asked:
        room = -(-grid.width // distance) * -(-grid.height // distance)
        log.warning(
            "only %d of the %d suggestions asked for lie at least %d pixels apart (at most about %d fit in "
            "a %d x %d scene at that distance); lower --min-distance for more",
            found,
            asked,
            distance,
            room,
            grid.width,
            grid.height,
        )


def run_suggest(request: SuggestRequest) -> dict[str, Any]:
    """Choose and write the suggestions; returns the summary (see `writing.Suggestions.summary`)."""
    scene = Scene.open(request.scene_dir)
    info = read_model_info(request.model_dir)
    grid = _scene_grid(scene, info)
    _warn_other_classes(scene, info)
    label_field, measure = label_field_of(request, scene), measure_of(request)
    items = planned_outputs(request)
    policy.check_outputs(items, request.inputs(), request.overwrite)
    weights = sha256_file(info.root / WEIGHTS_NAME)
    distance = request.min_distance or info.patch_size
    blocks = block_grid(grid.width, grid.height, request.settings.block_size)
    with (
        policy.locked_outputs([item.path for item in items]),
        open_eligible(scene, request.exclude_samples, grid) as eligible,
        contextlib.ExitStack() as files,
    ):
        opened = open_earlier(files, request, info, grid, weights) if request.earlier.given else None
        count = _check_enough(eligible, blocks, request.n)  # all checked: now the one pass
        if opened is not None:
            doubts = raster_doubts(request, info, opened, blocks, measure)
        else:
            doubts = model_doubts(request, scene, info, blocks, measure)
        pool = _pool(request, doubts, eligible, distance)
        chosen = pool.kept.take(select(pool.kept, request.n, distance))
        _warn_short(len(chosen), request.n, distance, grid)
        result = Suggestions(request, info, grid, chosen, measure, distance, label_field, count, weights)
        record = write_suggestions(result)
    return result.summary(record)
