"""Whole-scene prediction: block by block, batched on the device, resumable, split across ranks.

How a run works (`run_predict` for the CLI, `predict_scene` for a model already in memory):

0. Every check comes first, once (`cfipt_cli.predict.plan`): `--co`, the scene's bands against the
   model's, the output policy, GDAL's probe of every output; under `run_predict` before the model loads.
1. The scene is cut into square blocks (`block_size`, row-major order, `cfipt_cli.predict.blocks`).
   Ranks claim the blocks without a part dynamically (`cfipt_cli.predict.ranks`), so a fast rank takes
   more blocks and no rank idles while a block is unclaimed.
2. A reader thread reads each block of the stack with a halo of p // 2 (symmetric padding outside the
   scene, exactly as in training, see `cfipt_cli.compute.patches`), normalises it with the *model's*
   mean/std, finds the valid pixels (mask.tif == 1 and finite in every band) and, for CUDA, packs block
   and pixel positions into one pinned host buffer. At most `prefetch` blocks wait in memory, so reading
   overlaps compute and memory is bounded by a few blocks.
3. The device classifies the block's valid pixels in batches (`cfipt_cli.predict.classifier`); the
   result goes to one part file `block-NNNNNN.npz`, written atomically in a work folder
   `.<map name>.parts/` beside the map. The parts are the resume state (`cfipt_cli.predict.parts`): a
   rerun of the same job skips every block with a part.
4. After a barrier, rank 0 assembles the parts into the outputs (`cfipt_cli.predict.writing`) and
   removes the work folder. One process and N ranks therefore write identical files.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cfipt_cli.io.files import sha256_file
from cfipt_cli.log import get_logger
from cfipt_cli.predict.blocks import (
    Block,
    BlockInput,
    BlockSource,
    SceneRasters,
    block_grid,
    open_scene_rasters,
    prefetched,
    stage_block,
)
from cfipt_cli.predict.classifier import BlockClassifier
from cfipt_cli.predict.parts import PartStore, job_identity, keeping_parts
from cfipt_cli.predict.plan import PredictPlan, plan_prediction, validated_outputs
from cfipt_cli.predict.ranks import BlockClaims, Ranks, init_ranks
from cfipt_cli.predict.settings import (
    PIXEL_SELECTIONS,
    BlockCallback,
    PredictOutputs,
    PredictRequest,
    PredictSettings,
    check_choice,
)
from cfipt_cli.predict.writing import write_outputs

if TYPE_CHECKING:
    import numpy as np
    import torch

    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.contracts.scene import Scene

log = get_logger(__name__)


@dataclass(frozen=True)
class Computation:
    """How this process computes: the model on its device, the settings resolved for that device, its
    rank in the job, and the identity of the weights (part of the resume state)."""

    model: torch.nn.Module
    device: torch.device
    settings: PredictSettings
    ranks: Ranks
    model_id: str = ""

    @classmethod
    def resolved(
        cls,
        model: torch.nn.Module,
        device: torch.device,
        settings: PredictSettings,
        ranks: Ranks,
        model_id: str,
    ) -> Computation:
        """`settings` resolved for `device` (batch size and precision, logged on rank 0), TF32 on for CUDA."""
        from cfipt_cli.compute.devices import enable_tf32

        resolved = settings.resolved(device)
        tf32 = enable_tf32(device)
        if ranks.rank == 0:
            log.info(
                "predicting on %s%s: batch %d, bf16 autocast %s, TF32 %s, blocks of %d px",
                device,
                f" (rank 0 of {ranks.world_size})" if ranks.world_size > 1 else "",
                resolved.batch_size,
                "on" if resolved.amp else "off",
                "on" if tf32 else "off",
                resolved.block_size,
            )
        return cls(model, device, resolved, ranks, model_id)


def predict_scene(
    scene: Scene,
    model: torch.nn.Module,
    info: ModelInfo,
    outputs: PredictOutputs,
    settings: PredictSettings,
    device: torch.device,
    *,
    model_id: str = "",
    ranks: Ranks | None = None,
    on_block: BlockCallback | None = None,
    pixels: str = "all",
) -> dict[str, Any]:
    """Classify the valid pixels of `scene` and write the map (and optional rasters) of `outputs`.

    Args:
        scene: the prepared scene.
        model: a CFIPT (or any module whose `(hsi, aux)` call returns an object with `.logits`).
        info: the model's description (class table, band layout, normalisation, patch size).
        outputs: the files to write.
        settings: batch size, block size, precision, prefetch depth.
        device: where the model runs.
        model_id: identifies the weights in the resume state (e.g. a hash of the weights file).
        ranks: this process's rank in a torch.distributed job; None for a single process.
        on_block: called as on_block(block_index, done, to_do) after each block's part is saved.
        pixels: "all" valid pixels, or only those labelled "train", "test" or "labelled" (either) in
            the scene; the others are nodata in every output.

    Returns:
        A JSON-ready summary (on rank 0; other ranks return their own counts).
    """
    outputs = validated_outputs(outputs)
    with open_scene_rasters(scene, check_choice(pixels, PIXEL_SELECTIONS, "--pixels")) as rasters:
        plan = plan_prediction(scene, info, outputs, rasters)
        computation = Computation.resolved(model, device, settings, ranks or Ranks(), model_id)
        return run_plan(plan, rasters, computation, on_block)


def run_plan(
    plan: PredictPlan, rasters: SceneRasters, computation: Computation, on_block: BlockCallback | None = None
) -> dict[str, Any]:
    """Compute the blocks without a part (this rank's share), then rank 0 writes the outputs."""
    started = time.perf_counter()
    ranks = computation.ranks
    blocks = block_grid(plan.grid.width, plan.grid.height, computation.settings.block_size)
    store = PartStore(plan.outputs.map_path)
    if ranks.rank == 0:
        resumed = store.prepare(
            job_identity(plan, computation.settings, computation.model_id, computation.device.type)
        )
        if resumed:
            log.info("resuming: %d of %d blocks already done", resumed, len(blocks))
    ranks.barrier()  # the work folder is ready for every rank
    todo = [b for b in blocks if not store.has(b.index)]
    claims = BlockClaims(store, todo, ranks.world_size)
    with keeping_parts(store, len(blocks), ranks.rank == 0):
        computed, pixels = _compute_blocks(plan, rasters, computation, store, claims, on_block)
    computed, pixels = ranks.sum([computed, pixels], computation.device)
    ranks.barrier()  # every part is saved
    summary = _run_summary(plan, computation, len(blocks), computed, pixels)
    if ranks.rank != 0:
        return summary
    with keeping_parts(store, len(blocks), True):
        counts = write_outputs(plan, store, blocks, computation.model_id)
    store.remove()
    summary.update(_output_summary(plan, counts, pixels, time.perf_counter() - started))
    return summary


def _run_summary(
    plan: PredictPlan, computation: Computation, blocks: int, computed: int, pixels: int
) -> dict[str, Any]:
    return {
        "scene": str(plan.scene.root),
        "width": plan.grid.width,
        "height": plan.grid.height,
        "blocks": blocks,
        "blocks_computed": computed,
        "blocks_resumed": blocks - computed,
        "pixels_predicted_this_run": pixels,
        "device": str(computation.device),
        "batch_size": computation.settings.batch_size,
        "amp": computation.settings.amp,
        "world_size": computation.ranks.world_size,
        "pixels": plan.pixels,
    }


def _output_summary(plan: PredictPlan, counts: dict[int, int], pixels: int, seconds: float) -> dict[str, Any]:
    classified = int(sum(counts.values()))
    return {
        "outputs": {k: str(v) for k, v in plan.outputs.named().items()},
        "pixels_classified": classified,
        "pixels_nodata": plan.grid.width * plan.grid.height - classified,
        "class_counts": {plan.info.classes.name_of(i): n for i, n in counts.items()},
        "seconds": round(seconds, 3),
        "pixels_per_second": round(pixels / seconds, 1) if seconds > 0 else None,
    }


def _compute_blocks(
    plan: PredictPlan,
    rasters: SceneRasters,
    computation: Computation,
    store: PartStore,
    claims: BlockClaims,
    on_block: BlockCallback | None,
) -> tuple[int, int]:
    """Classify the blocks this rank claims and save a part for each.

    Returns (blocks, valid pixels) done by this process. `on_block(index, done, to_do)` gets as `to_do`
    the blocks left to every rank when this one started.
    """
    outputs, info, settings = plan.outputs, plan.info, computation.settings
    classifier = BlockClassifier(
        computation.model,
        info,
        computation.device,
        settings,
        outputs.proba_path is not None,
        outputs.confidence_path is not None,
        outputs.uncertainty_measure if outputs.uncertainty_path is not None else None,
    )
    total, n_done, pixels = len(claims.todo), 0, 0
    for n_done, (block, result, valid) in enumerate(classified_blocks(rasters, classifier, claims), start=1):
        store.save(block.index, result)
        pixels += valid
        log.info("block %d (%d of %d) done (%d pixels)", block.index, n_done, total, valid)
        if on_block is not None:
            on_block(block.index, n_done, total)
    return n_done, pixels


def classified_blocks(
    rasters: SceneRasters, classifier: BlockClassifier, blocks: list[Block] | BlockSource
) -> Iterator[tuple[Block, dict[str, np.ndarray], int]]:
    """(block, `classifier.classify` of it, its classified pixels) for each of `blocks`, read ahead of
    the device by one background thread (`settings.prefetch` blocks deep) from the open `rasters`."""
    info, settings = classifier.info, classifier.settings
    halo, pin = info.patch_size // 2, classifier.device.type == "cuda"

    # The datasets are used by the reader thread only, one block at a time; for patches cut on the
    # device it also packs the block into the (pinned) buffer that goes there in one transfer.
    def read(block: Block) -> BlockInput:
        data = rasters.read_block(block, halo, info.mean, info.std)
        return stage_block(data, pin) if settings.device_cut else data

    # closing() stops the reader before the datasets close, also when a block fails.
    with contextlib.closing(prefetched(blocks, read, settings.prefetch)) as stream:
        for data in stream:
            yield data.block, classifier.classify(data), len(data.rows)


def run_predict(request: PredictRequest, on_block: BlockCallback | None = None) -> dict[str, Any]:
    """`cfipt predict`: check everything, then load the model and `run_plan` (on every rank under
    torchrun), holding the lock of every output."""
    from cfipt_cli.contracts.model import read_model_info
    from cfipt_cli.contracts.scene import Scene

    outputs = validated_outputs(request.outputs)  # a bad --co is a usage error before anything is opened
    scene = Scene.open(request.scene_dir)
    described = read_model_info(request.model_dir)
    with open_scene_rasters(scene, request.pixels) as rasters:
        plan = plan_prediction(scene, described, outputs, rasters, request.model_dir)  # before the backbone
        with _output_lock(outputs):
            return _run_loaded(plan, rasters, request, on_block)


def _output_lock(outputs: PredictOutputs) -> contextlib.AbstractContextManager[None]:
    """The lock on every output (rank 0 only: the ranks of one torchrun job share the outputs)."""
    from cfipt_cli.io.outputs import locked_outputs

    if os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return locked_outputs(outputs.all_paths())


def _run_loaded(
    plan: PredictPlan, rasters: SceneRasters, request: PredictRequest, on_block: BlockCallback | None
) -> dict[str, Any]:
    """Load the model and `run_plan`, under torch.distributed when torchrun started us."""
    from cfipt_cli.contracts.model import WEIGHTS_NAME, load_model

    ranks, device = init_ranks(request.device, request.settings.dist_timeout_s)
    try:
        model, _ = load_model(plan.info, device)  # the description the plan checked, not read again
        model_id = sha256_file(plan.info.root / WEIGHTS_NAME)
        return run_plan(
            plan, rasters, Computation.resolved(model, device, request.settings, ranks, model_id), on_block
        )
    finally:
        if ranks.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
