"""`cfipt prepare` as a library function: rasters + labels -> a scene folder (see `cfipt_cli.contracts.scene`).

The run: check the request (`request`), open the inputs on the HSI grid (`inputs`), write the stack and
the mask window by window (`stack`), split the labelled pixels and write the label rasters
(`label_rasters`), describe the scene in scene.json (`describe`). The folder is written under a
temporary name beside the target and renamed at the end.
"""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rasterio.errors import NotGeoreferencedWarning

from cfipt_cli.contracts.scene import write_scene_meta
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import atomic_dir
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.gdal import bounded_block_cache
from cfipt_cli.prepare.describe import describe_scene, summarise
from cfipt_cli.prepare.inputs import OpenedInputs, open_inputs
from cfipt_cli.prepare.label_rasters import classes_and_split, write_label_rasters
from cfipt_cli.prepare.labels import read_class_names
from cfipt_cli.prepare.request import CheckedRequest, PrepareRequest, check_request
from cfipt_cli.prepare.stack import check_valid_data, probe_stack_options, windowed_pass

GDAL_CACHE_MB = 256  # bounds GDAL's block cache (its default is 5 % of RAM)


def prepare(request: PrepareRequest) -> dict[str, Any]:
    """Co-register the sources onto the HSI grid, rasterise and split the labels, write a scene folder.

    Returns:
        A summary: output folder, size, CRS, band counts, valid pixels, per-class train/test counts.

    Raises:
        CfiptUsageError: contradictory or out-of-range options (exit 2).
        InputNotFoundError, DataError, OutputExistsError: see the README section "Bad input".
    """
    checked = check_request(request)
    class_names = request.labels.class_names
    user_table = read_class_names(class_names) if class_names is not None else None
    with policy.locked_outputs([checked.out]), ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        stack.enter_context(bounded_block_cache(GDAL_CACHE_MB))
        inputs = open_inputs(stack, checked, user_table)
        probe_stack_options(inputs.grid, len(inputs.band_descriptions()), checked.creation)
        with atomic_dir(checked.out, request.output.overwrite) as folder:
            summary = _build_scene(folder, checked, inputs, user_table)
    summary["out"] = str(checked.out)
    return summary


def prepare_scene(hsi: str | Path, **options: Any) -> dict[str, Any]:
    """`prepare` with the request as flat keywords (`PrepareRequest.from_options`), e.g.
    `prepare_scene("h.tif", lidar=["dsm.tif"], labels="train.gpkg", label_field="class", out="scene")`.

    Keywords: those of `SceneInputs` (lidar, sar, hsi_nodata, lidar_nodata, sar_nodata, mat_keys,
    resampling), `LabelOptions` (labels, label_field, test_labels, all_touched, class_names),
    `SplitParams` (split: the mode, train_per_class, seed, patch_size, block_size) and `OutputOptions`
    (out, creation_options, overwrite, window_size, progress).
    """
    return prepare(PrepareRequest.from_options(hsi, **options))


def _build_scene(
    folder: Path, checked: CheckedRequest, inputs: OpenedInputs, user_table: ClassTable | None
) -> dict[str, Any]:
    output = checked.request.output
    result = windowed_pass(folder, inputs, output.window_size, checked.creation, output.progress)
    check_valid_data(result, [f"{role}:{n}" for role, n, _ in inputs.band_descriptions()])
    table, split = classes_and_split(inputs, result, checked.request.split, user_table)
    write_label_rasters(folder, inputs.grid, split, table, output.window_size)
    description = describe_scene(checked, inputs, result, table, split)
    write_scene_meta(folder, description)
    return summarise(description, split)
