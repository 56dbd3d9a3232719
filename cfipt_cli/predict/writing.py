"""The outputs of a run, written by rank 0 from the parts: the GeoTIFFs (one block in memory at a time)
with colour table, overviews and the class map's sidecars (CategoryNames, QGIS style), then the quicklook PNG, each under a
temporary name renamed to its target at the end (`cfipt_cli.io.atomic`)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

from cfipt_cli.compute.uncertainty import MEASURE_NAMES
from cfipt_cli.errors import CfiptError
from cfipt_cli.io import mapio
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.gdal import gdal_errors
from cfipt_cli.io.rasters import Grid
from cfipt_cli.predict.blocks import Block
from cfipt_cli.predict.parts import PartStore
from cfipt_cli.predict.settings import PredictOutputs

if TYPE_CHECKING:
    from cfipt_cli.predict.plan import PredictPlan


def provenance_tags(plan: PredictPlan, model_id: str) -> dict[str, str]:
    """Where the rasters come from (`mapio.MODEL_TAG`, `mapio.PIXELS_TAG`)."""
    return {mapio.PIXELS_TAG: plan.pixels, **({mapio.MODEL_TAG: model_id} if model_id else {})}


def write_outputs(
    plan: PredictPlan, store: PartStore, blocks: list[Block], model_id: str = ""
) -> dict[int, int]:
    """`assemble` and the quicklook; a GDAL or OS failure keeps the parts and says how to resume.
    Returns the pixel count of each class id."""
    failures: tuple[type[Exception], ...] = (*gdal_errors(), OSError)
    try:
        tags = provenance_tags(plan, model_id)
        counts = assemble(store, blocks, plan.grid, plan.info.classes, plan.outputs, tags)
        write_quicklook(plan.outputs, plan.info.classes)
    except CfiptError:
        raise
    except failures as exc:
        raise CfiptError(
            f"writing {plan.outputs.map_path} failed: {exc}; the finished blocks are kept in {store.root}, "
            "fix the cause and rerun the same command to resume"
        ) from exc
    return counts


def assemble(
    store: PartStore,
    blocks: list[Block],
    grid: Grid,
    classes: ClassTable,
    outputs: PredictOutputs,
    tags: dict[str, str] | None = None,
) -> dict[int, int]:
    """Write the GeoTIFFs from the parts, block by block, each with `tags`; returns the pixel count of
    each class id."""
    from rasterio.windows import Window

    counts = np.zeros(classes.max_id + 1, dtype=np.int64)
    with contextlib.ExitStack() as renames:
        # renamed in the reverse order of entry: the map first, so that a failed rename of the map
        # leaves none of the other rasters in place either
        paths = outputs.rasters()[::-1]
        tmp = {p: renames.enter_context(atomic_file(p, outputs.overwrite)) for p in paths}
        with contextlib.ExitStack() as files:
            co = outputs.creation_options
            dst_map = files.enter_context(mapio.open_class_map(tmp[outputs.map_path], grid, classes, co))
            dst_proba = dst_conf = dst_unc = None
            if outputs.proba_path:
                dst_proba = files.enter_context(
                    mapio.open_probabilities(tmp[outputs.proba_path], grid, classes, co)
                )
            if outputs.confidence_path:
                dst_conf = files.enter_context(mapio.open_confidence(tmp[outputs.confidence_path], grid, co))
            if outputs.uncertainty_path:
                measure = outputs.uncertainty_measure
                dst_unc = files.enter_context(
                    mapio.open_uncertainty(
                        tmp[outputs.uncertainty_path], grid, measure, MEASURE_NAMES[measure], co
                    )
                )
            for dst in (d for d in (dst_map, dst_proba, dst_conf, dst_unc) if d is not None):
                dst.update_tags(**(tags or {}))
            for block in blocks:
                part = store.load(block.index)
                window = Window(block.col, block.row, block.width, block.height)
                dst_map.write(part["ids"], 1, window=window)
                counts += np.bincount(part["ids"].ravel(), minlength=len(counts))[: len(counts)]
                if dst_proba is not None:
                    dst_proba.write(part["proba"], window=window)
                if dst_conf is not None:
                    dst_conf.write(part["confidence"], 1, window=window)
                if dst_unc is not None:
                    dst_unc.write(part["uncertainty"], 1, window=window)
            mapio.finish_class_map(dst_map, classes)
        mapio.write_class_sidecars(tmp[outputs.map_path], classes)
    return {i: int(counts[i]) for i in classes.ids}


def write_quicklook(outputs: PredictOutputs, classes: ClassTable) -> None:
    """The PNG quicklook of the finished map, written atomically."""
    if outputs.quicklook_path is None:
        return
    with atomic_file(outputs.quicklook_path, outputs.overwrite) as tmp:
        mapio.write_quicklook(outputs.map_path, tmp, classes)
