"""Where `cfipt suggest` gets each block's predicted classes, uncertainty and probability: the rasters of
an earlier `cfipt predict` when given (no model run), else the model itself, block by block through
predict's own block stream (same halo, normalisation and batches as `cfipt predict`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.compute.uncertainty import uncertainty
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.coreg import same_grid
from cfipt_cli.io.mapio import MODEL_TAG, PIXELS_TAG
from cfipt_cli.io.mapio import UNCERTAINTY_MEASURE_TAG as MEASURE_TAG
from cfipt_cli.io.rasters import Grid
from cfipt_cli.predict.blocks import Block

if TYPE_CHECKING:
    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.contracts.scene import Scene
    from cfipt_cli.suggest.request import SuggestRequest


@dataclass(frozen=True)
class BlockDoubt:
    """One block's predicted class ids (0 = nodata), uncertainty and winning probability (NaN unknown)."""

    block: Block
    ids: np.ndarray
    uncertainty: np.ndarray
    probability: np.ndarray


def _from_proba(block: Block, ids: np.ndarray, proba: np.ndarray, measure: str) -> BlockDoubt:
    valid = np.isfinite(proba).all(axis=0)
    best = np.where(valid, np.nan_to_num(proba, nan=-1.0).max(axis=0), np.nan).astype(np.float32)
    return BlockDoubt(block, np.where(valid, ids, 0), uncertainty(proba, measure, axis=0), best)


def _open_on_grid(files: contextlib.ExitStack, flag: str, path: Any, grid: Grid, weights_sha256: str) -> Any:
    """`path` opened, on the scene's grid and predicted by the model whose weights have that sha256
    (the rasters of predict carry it; a raster without the tag is taken on trust)."""
    import rasterio

    from cfipt_cli.io.gdal import gdal_errors

    try:
        src = files.enter_context(rasterio.open(path))
    except gdal_errors() as exc:
        raise DataError(f"cannot read {flag} {path}: {exc}") from exc
    if not same_grid(Grid(src.width, src.height, src.crs, src.transform), grid):
        raise DataError(
            f"{flag} {path} is not on the scene's pixel grid; give the rasters of a predict of this scene"
        )
    tags = src.tags()
    if tags.get(PIXELS_TAG, "all") != "all":
        raise DataError(
            f"{flag} {path} holds only the scene's {tags[PIXELS_TAG]} pixels (predict --pixels "
            f"{tags[PIXELS_TAG]}), which are never suggested; give the rasters of a predict of all pixels"
        )
    predicted_by = tags.get(MODEL_TAG)
    if predicted_by and predicted_by != weights_sha256:
        raise DataError(
            f"{flag} {path} was predicted by another model than --model (weights sha256 {predicted_by[:12]}..., "
            f"not {weights_sha256[:12]}...); give the rasters of a predict with this model, or none"
        )
    return src


def _check_proba_bands(proba: Any, path: Any, info: ModelInfo) -> None:
    """The bands of a --proba raster are the model's classes, in its order (predict names each band)."""
    if proba.count != len(info.classes):
        raise DataError(
            f"--proba {path} has {proba.count} bands but the model has {len(info.classes)} classes"
        )
    names = list(proba.descriptions)
    if all(names) and names != info.classes.names:
        raise DataError(
            f"--proba {path} holds the classes {', '.join(names)}, not the model's ({', '.join(info.classes.names)})"
        )


def measure_of(request: SuggestRequest) -> str:
    """The uncertainty measure: `--uncertainty-measure`, else that of a given `--uncertainty` raster,
    else entropy; a raster of another measure than the one asked for is a usage error."""
    path = request.earlier.uncertainty
    if path is None or request.earlier.proba is not None:
        return request.measure or "entropy"
    import rasterio

    with rasterio.open(path) as src:
        tagged = src.tags().get(MEASURE_TAG)
    if tagged is None:
        raise DataError(
            f"--uncertainty {path} is not an uncertainty raster of cfipt predict (no {MEASURE_TAG} tag)"
        )
    if request.measure is not None and request.measure != tagged:
        raise CfiptUsageError(f"--uncertainty {path} holds the {tagged} measure, not {request.measure}")
    return tagged


def open_earlier(
    files: contextlib.ExitStack, request: SuggestRequest, info: ModelInfo, grid: Grid, weights_sha256: str
) -> dict[str, Any]:
    """The rasters of an earlier predict, opened and checked (grid, model, classes) before any block."""
    opened = {
        flag: _open_on_grid(files, flag, path, grid, weights_sha256) for flag, path in request.earlier.paths()
    }
    if "--proba" in opened:
        _check_proba_bands(opened["--proba"], request.earlier.proba, info)
    return opened


def raster_doubts(
    request: SuggestRequest, info: ModelInfo, opened: dict[str, Any], blocks: list[Block], measure: str
) -> Iterator[BlockDoubt]:
    """Each block from the rasters of an earlier predict (`--proba`, or `--map` + `--uncertainty`), as
    `open_earlier` opened them."""
    from rasterio.windows import Window

    ids_of_band, proba = np.asarray(info.class_ids), opened.get("--proba")
    for block in blocks:
        window = Window(block.col, block.row, block.width, block.height)
        if proba is not None:
            p = proba.read(window=window)
            ids = ids_of_band[np.nan_to_num(p, nan=-1.0).argmax(axis=0)]
            yield _from_proba(block, ids, p, measure)
            continue
        ids = opened["--map"].read(1, window=window).astype(np.int64)
        doubt = opened["--uncertainty"].read(1, window=window)
        ids = np.where(np.isfinite(doubt), ids, 0)
        unknown = ~np.isin(ids, ids_of_band) & (ids != 0)
        if unknown.any():
            raise DataError(
                f"--map {request.earlier.map_path} holds class id {int(ids[unknown][0])}, which the model "
                f"has not (its ids: {', '.join(map(str, ids_of_band))}); give the map of a predict with --model"
            )
        yield BlockDoubt(block, ids, doubt, np.full(doubt.shape, np.nan, np.float32))


def model_doubts(
    request: SuggestRequest, scene: Scene, info: ModelInfo, blocks: list[Block], measure: str
) -> Iterator[BlockDoubt]:
    """Each block classified by the model: predict's classifier gives the ids, the winning probability
    and the uncertainty exactly as `cfipt predict --confidence --uncertainty` writes them."""
    from cfipt_cli.compute.devices import resolve_device
    from cfipt_cli.contracts.model import load_model
    from cfipt_cli.predict.blocks import open_scene_rasters
    from cfipt_cli.predict.classifier import BlockClassifier
    from cfipt_cli.predict.pipeline import classified_blocks

    device = resolve_device(request.device)
    model, _ = load_model(info, device)
    settings = request.settings.resolved(device)
    classifier = BlockClassifier(model, info, device, settings, False, True, uncertainty_measure=measure)
    with open_scene_rasters(scene) as rasters:
        for block, result, _ in classified_blocks(rasters, classifier, blocks):
            yield BlockDoubt(
                block, result["ids"].astype(np.int64), result["uncertainty"], result["confidence"]
            )
