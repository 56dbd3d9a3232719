"""Whole-scene prediction: block by block, batched on the device, resumable, split across ranks.

How a run works (`predict_scene`):

1. The scene is cut into square blocks (`block_size`, row-major order). Ranks claim the blocks
   without a part dynamically: a claim is the atomic creation of `claim-NNNNNN` in the work folder
   (`os.open(O_CREAT | O_EXCL)`, which works across the nodes of a shared filesystem too), so a fast
   rank takes more blocks and no rank idles while a block is unclaimed. A rank claims the next block
   ahead of time (to read it while the device computes) only while at least `world_size` blocks are
   unclaimed, so the last blocks go to idle ranks, not to a busy one's queue.
2. A reader thread reads each block of the stack with a halo of p // 2 (symmetric padding outside the
   scene, exactly as in training, see `cfipt_cli.compute.patches`), normalises it with the *model's* mean/std,
   finds the valid pixels (mask.tif == 1 and finite in every band) and, for CUDA, packs block and pixel
   positions into one pinned host buffer. At most `prefetch` blocks wait in memory, so reading overlaps
   compute and memory is bounded by a few blocks.
3. The buffer goes to the device in one transfer; the patches of each batch of `batch_size` valid pixels
   are cut there (`patches.gather_patches`, equal to the host's `extract_patches` bit for bit; on CPU
   numpy's `extract_patches` cuts them, faster there) and classified; the block's class ids (and probabilities / confidence when asked) stay on the device
   until the block is done (one synchronisation per block), then go to one part file
   `block-NNNNNN.npz`, written atomically in a work folder `.<map name>.parts/` beside the map. The
   parts are the resume state: a rerun of the same job skips every block with a part (`job.json` in
   the folder identifies the job; another job starts afresh; claims of a killed run are dropped).
4. After a barrier, rank 0 assembles the parts into the GeoTIFFs (one block in memory at a time),
   writes colour table, overviews and the CategoryNames sidecar, renames the temporary files to their
   targets and removes the work folder. One process and N ranks therefore write identical files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.compute.patches import (
    extract_patches,
    gather_patches,
    normalise,
    read_block_with_halo,
    split_sources,
)
from cfipt_cli.errors import CfiptError, CfiptUsageError, CheckpointError, DataError
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file
from cfipt_cli.log import get_logger

if TYPE_CHECKING:
    import torch

    from cfipt_cli.compute.devices import Staged
    from cfipt_cli.contracts.model import ModelInfo
    from cfipt_cli.contracts.scene import Scene

log = get_logger(__name__)

PARTS_FORMAT = "cfipt-predict-parts"
PARTS_FORMAT_VERSION = 1
JOB_NAME = "job.json"
# torch.distributed's timeout: a rank that has finished waits in a collective for the others' last
# blocks (a 512 px block of ViT-B-16 is minutes on a CPU); generous by default, --dist-timeout sets it.
DEFAULT_DIST_TIMEOUT_S = 6 * 3600.0

# on_block(block_index, blocks_done, blocks_to_do) after each saved block (progress bars, tests).
BlockCallback = Callable[[int, int, int], None]


@dataclass(frozen=True)
class Block:
    """A window of the scene: index in row-major order, offsets and size in pixels."""

    index: int
    row: int
    col: int
    height: int
    width: int


@dataclass
class PredictOutputs:
    """Where the results go. Only `map_path` is required."""

    map_path: Path
    proba_path: Path | None = None
    confidence_path: Path | None = None
    quicklook_path: Path | None = None
    creation_options: dict[str, str] = field(default_factory=dict)
    overwrite: bool = False
    # set once the warnings about `creation_options` are printed (run_predict's early check), so that
    # predict_scene checks them again without a second copy of each warning
    creation_options_warned: bool = field(default=False, repr=False)

    def rasters(self) -> list[Path]:
        """Every GeoTIFF to write, the map first."""
        return [p for p in (self.map_path, self.proba_path, self.confidence_path) if p is not None]

    def all_paths(self) -> list[Path]:
        return [*self.rasters(), *([self.quicklook_path] if self.quicklook_path else [])]


@dataclass
class PredictSettings:
    """How to compute: sizes, device and precision. None of them changes the map (bf16 aside).

    `batch_size`, `amp` and `device_cut` None mean the device's defaults (`resolved`): on CUDA batches
    of 256 under bf16 autocast, patches cut on the device; on CPU batches of 64 in float32, patches cut
    by numpy (see `cfipt_cli.compute.devices`, `BlockClassifier`).
    """

    batch_size: int | None = None
    block_size: int = 512
    amp: bool | None = None
    prefetch: int = 2
    dist_timeout_s: float = DEFAULT_DIST_TIMEOUT_S
    device_cut: bool | None = None

    def resolved(self, device: torch.device) -> PredictSettings:
        """These settings with batch size and precision decided for `device`."""
        from cfipt_cli.compute.devices import default_predict_batch, resolve_amp

        batch = default_predict_batch(device) if self.batch_size is None else self.batch_size
        cut = device.type == "cuda" if self.device_cut is None else self.device_cut
        return replace(self, batch_size=batch, amp=resolve_amp(self.amp, device), device_cut=cut)


@dataclass
class Ranks:
    """This process's place in a torch.distributed job (rank 0 of 1 without one)."""

    rank: int = 0
    world_size: int = 1
    device_ids: list[int] | None = None  # NCCL's barrier device; None with gloo
    collectives_on_cpu: bool = False  # gloo: the sums run on CPU tensors

    def barrier(self) -> None:
        """Wait for every rank (no-op for a single process)."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier(device_ids=self.device_ids)

    def sum(self, values: list[int], device: torch.device) -> list[int]:
        """Element-wise sum of `values` over all ranks."""
        if self.world_size == 1:
            return values
        import torch
        import torch.distributed as dist

        tensor = torch.tensor(values, dtype=torch.int64, device="cpu" if self.collectives_on_cpu else device)
        dist.all_reduce(tensor)
        return [int(v) for v in tensor.tolist()]


# ---------------------------------------------------------------------------------------------------
# Blocks and checks
# ---------------------------------------------------------------------------------------------------


def block_grid(width: int, height: int, block_size: int) -> list[Block]:
    """Square blocks covering the scene in row-major order; the last row/column may be smaller."""
    if block_size < 1:
        raise CfiptUsageError(f"--block-size must be at least 1, not {block_size}")
    blocks: list[Block] = []
    for row in range(0, height, block_size):
        for col in range(0, width, block_size):
            h, w = min(block_size, height - row), min(block_size, width - col)
            blocks.append(Block(len(blocks), row, col, h, w))
    return blocks


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
    from cfipt_cli.io import outputs as policy

    named = [
        ("--out", outputs.map_path, policy.GEOTIFF),
        ("--proba", outputs.proba_path, policy.GEOTIFF),
        ("--confidence", outputs.confidence_path, policy.GEOTIFF),
        ("--quicklook", outputs.quicklook_path, policy.PNG),
    ]
    items = [policy.Output(Path(p), flag, kind) for flag, p, kind in named if p is not None]
    inputs = [("scene folder", scene.root), *([("model folder", model_dir)] if model_dir else [])]
    policy.check_outputs(items, inputs, outputs.overwrite)


# ---------------------------------------------------------------------------------------------------
# Resume state: one part file per finished block
# ---------------------------------------------------------------------------------------------------


class PartStore:
    """The work folder `.<map>.parts/` beside the map: `job.json` plus one `.npz` per finished block.

    A part is written under a temporary name and renamed, so a killed run leaves only whole parts.
    """

    def __init__(self, map_path: Path):
        self.root = map_path.parent / f".{map_path.name}.parts"

    def part(self, index: int) -> Path:
        return self.root / f"block-{index:06d}.npz"

    def prepare(self, job: dict[str, Any]) -> int:
        """Keep the parts of the same job (returns how many), discard those of any other."""
        job_path = self.root / JOB_NAME
        if job_path.is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
                if json.loads(job_path.read_text(encoding="utf-8")) == job:
                    self.drop_claims()
                    for leftover in self.root.glob(".block-*.tmp-*"):  # half parts of a killed run
                        leftover.unlink()
                    return len(list(self.root.glob("block-*.npz")))
        if self.root.exists():
            log.warning("discarding the unfinished parts of a different earlier run in %s", self.root)
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        job_path.write_text(json.dumps(job, indent=1) + "\n", encoding="utf-8")
        return 0

    def has(self, index: int) -> bool:
        return self.part(index).is_file()

    def claim(self, index: int) -> bool:
        """Claim block `index` for this process: True for exactly one caller, across ranks and nodes."""
        try:
            os.close(os.open(self.root / f"claim-{index:06d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        return True

    def claimed(self) -> int:
        """How many blocks are claimed."""
        with os.scandir(self.root) as entries:
            return sum(1 for e in entries if e.name.startswith("claim-"))

    def drop_claims(self) -> None:
        """Forget the claims of an earlier run (blocks without a part are computed again)."""
        for path in self.root.glob("claim-*"):
            path.unlink(missing_ok=True)

    def save(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        tmp = self.root / f".block-{index:06d}.tmp-{os.getpid()}"
        with tmp.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        os.replace(tmp, self.part(index))

    def load(self, index: int) -> dict[str, np.ndarray]:
        try:
            with np.load(self.part(index)) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.part(index)} is corrupt ({exc}); delete {self.root} and rerun") from exc

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def job_identity(
    scene: Scene,
    info: ModelInfo,
    model_id: str,
    outputs: PredictOutputs,
    settings: PredictSettings,
    device_type: str = "cpu",
) -> dict[str, Any]:
    """What makes two runs produce the same parts: scene, model, block size, outputs asked, precision."""
    stat = scene.stack_path.stat()
    return {
        "format": PARTS_FORMAT,
        "format_version": PARTS_FORMAT_VERSION,
        "scene": str(scene.root.resolve()),
        "stack": [stat.st_size, stat.st_mtime_ns],
        "model": model_id,
        "classes": info.classes.to_json(),
        "patch_size": info.patch_size,
        "block_size": settings.block_size,
        "proba": outputs.proba_path is not None,
        "confidence": outputs.confidence_path is not None,
        "amp": settings.amp,
        "device": device_type,  # CPU and CUDA parts may differ in the last bits: never mixed
    }


# ---------------------------------------------------------------------------------------------------
# Reading (a background thread) and classifying (the device)
# ---------------------------------------------------------------------------------------------------


@dataclass
class BlockInput:
    """A block ready for the model: normalised stack with halo and the valid pixels' positions."""

    block: Block
    padded: np.ndarray  # (bands, h + 2r, w + 2r) float32, normalised
    rows: np.ndarray  # valid pixels, block coordinates
    cols: np.ndarray
    staged: Staged | None = None  # padded, rows, cols packed for one transfer (their arrays are views)


def stage_block(data: BlockInput, pin: bool) -> BlockInput:
    """`data` with its arrays packed into one host buffer (pinned when `pin`) for one transfer."""
    from cfipt_cli.compute.devices import Staged

    staged = Staged([data.padded, data.rows, data.cols], pin=pin)
    padded, rows, cols = staged.arrays
    return BlockInput(data.block, padded, rows, cols, staged=staged)


def read_block(src: Any, mask: Any, block: Block, halo: int, mean: np.ndarray, std: np.ndarray) -> BlockInput:
    """Read, pad and normalise one block; valid = mask == 1 and every band finite at the pixel."""
    from rasterio.windows import Window

    from cfipt_cli.io.gdal import gdal_errors

    try:
        raw = read_block_with_halo(src, block.row, block.col, block.height, block.width, halo)
        in_mask = mask.read(1, window=Window(block.col, block.row, block.width, block.height)) == 1
    except gdal_errors() as exc:
        raise DataError(
            f"cannot read block {block.index} of the scene ({exc}); is the scene folder intact?"
        ) from exc
    centre = raw[:, halo : halo + block.height, halo : halo + block.width]
    valid = np.isfinite(centre).all(axis=0) & in_mask
    rows, cols = np.nonzero(valid)
    return BlockInput(block, normalise(raw, mean, std), rows, cols)


# next_block(ahead) -> the next block to compute, or None; `ahead` is True while blocks are in hand
# (then None means "not now", and it is asked again once they are done; without blocks: "no more").
BlockSource = Callable[[bool], "Block | None"]


def prefetched(
    items: list[Block] | BlockSource, read: Callable[[Block], BlockInput], depth: int
) -> Generator[BlockInput, None, None]:
    """Yield read(item) for each item, reading up to `depth` items ahead in one background thread.

    `items` is a list, or a `BlockSource` (the blocks this rank claims, one at a time).
    """
    source = _list_source(items) if isinstance(items, list) else items
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cfipt-reader") as pool:
        pending: deque[Future[BlockInput]] = deque()
        try:
            while True:
                while len(pending) <= depth:
                    item = source(bool(pending))
                    if item is None:
                        break
                    pending.append(pool.submit(read, item))
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _list_source(items: list[Block]) -> BlockSource:
    queue = iter(items)
    return lambda _ahead: next(queue, None)


class BlockClaims:
    """The blocks of `todo` this rank gets, claimed one at a time in the work folder (a `BlockSource`)."""

    def __init__(self, store: PartStore, todo: list[Block], world_size: int):
        self.store, self.todo, self.world_size = store, todo, world_size
        self.cursor = 0  # claims never go away during a run: blocks before the cursor are taken

    def __call__(self, ahead: bool) -> Block | None:
        while self.cursor < len(self.todo):
            # Claiming ahead keeps this rank's device busy, but near the end it would take a block
            # from a rank that has none: only while every other rank can still find one.
            if ahead and self.world_size > 1 and len(self.todo) - self.store.claimed() < self.world_size:
                return None
            block = self.todo[self.cursor]
            self.cursor += 1
            if self.store.claim(block.index):
                return block
        return None


class BlockClassifier:
    """Runs the model over the valid pixels of blocks, in batches, on one device."""

    def __init__(
        self,
        model: torch.nn.Module,
        info: ModelInfo,
        device: torch.device,
        settings: PredictSettings,
        want_proba: bool,
        want_confidence: bool,
    ):
        import torch

        from cfipt_cli.io.gtiff import class_map_dtype

        self.model = model.to(device).eval()
        self.device = device
        cut = device.type == "cuda" if settings.device_cut is None else settings.device_cut
        self.settings = replace(settings, device_cut=cut)
        self.patch_size = info.patch_size
        self.n_hsi = info.n_hsi
        self.ids = torch.tensor(info.class_ids, dtype=torch.int64, device=device)
        self.dtype = np.dtype(class_map_dtype(info.classes.max_id))
        self.want_proba = want_proba
        self.want_confidence = want_confidence

    def _patch_cutter(self, data: BlockInput) -> Callable[[int, int], torch.Tensor]:
        """cut(start, stop): the patches of valid pixels start..stop-1, (n, bands, p, p) on the device.

        On the device (CUDA's default): block and pixel positions go there in one (asynchronous) transfer
        and each batch is gathered there. On the host (CPU's default: numpy's strided copy is faster
        there than torch's gather): `extract_patches`. Both give the same values bit for bit.
        """
        import torch

        p = self.patch_size
        if not self.settings.device_cut:
            return lambda start, stop: torch.from_numpy(
                extract_patches(data.padded, data.rows[start:stop], data.cols[start:stop], p)
            ).to(self.device)
        staged = data.staged or stage_block(data, pin=self.device.type == "cuda").staged
        assert staged is not None
        padded, rows, cols = staged.to(self.device)
        return lambda start, stop: gather_patches(padded, rows[start:stop], cols[start:stop], p)

    def _batch_logits(self, patches: torch.Tensor) -> torch.Tensor:
        from cfipt_cli.compute.devices import autocast

        hsi, aux = split_sources(patches, self.n_hsi)  # type: ignore[arg-type]
        with autocast(self.device, bool(self.settings.amp)):
            return self.model(hsi, aux).logits.float()

    def classify(self, data: BlockInput) -> dict[str, np.ndarray]:
        """Class ids (h, w) with 0 at nodata, plus 'proba' (K, h, w) / 'confidence' (h, w), NaN at nodata."""
        import torch

        n, batch = len(data.rows), int(self.settings.batch_size or 1)
        want_proba = self.want_proba or self.want_confidence
        # Results go into buffers allocated once per block: many small tensors kept per batch would
        # fragment the heap around the batch temporaries and grow memory by hundreds of MB per block.
        winners = torch.empty(n, dtype=torch.int64, device=self.device)
        probas = torch.empty((n, len(self.ids)) if want_proba else (0, 0), device=self.device)
        cut = self._patch_cutter(data)
        with torch.inference_mode():
            for start in range(0, n, batch):
                stop = min(n, start + batch)
                logits = self._batch_logits(cut(start, stop))
                winners[start:stop] = logits.argmax(dim=1)
                if want_proba:
                    probas[start:stop] = torch.softmax(logits, dim=1)
            # One transfer per block: the device works through the batches without waiting for it.
            ids = self.ids[winners].cpu().numpy()
            proba = probas.cpu().numpy() if want_proba else None
        return self._to_block(data, ids, proba)

    def _to_block(self, data: BlockInput, ids: np.ndarray, proba: np.ndarray | None) -> dict[str, np.ndarray]:
        h, w = data.block.height, data.block.width
        out = {"ids": np.zeros((h, w), dtype=self.dtype)}
        out["ids"][data.rows, data.cols] = ids
        if self.want_proba:
            out["proba"] = np.full((len(self.ids), h, w), np.nan, dtype=np.float32)
            if proba is not None:
                out["proba"][:, data.rows, data.cols] = proba.T
        if self.want_confidence:
            out["confidence"] = np.full((h, w), np.nan, dtype=np.float32)
            if proba is not None:
                out["confidence"][data.rows, data.cols] = proba.max(axis=1)
        return out


# ---------------------------------------------------------------------------------------------------
# Writing the outputs (rank 0)
# ---------------------------------------------------------------------------------------------------


def assemble(
    store: PartStore, blocks: list[Block], grid: Any, classes: ClassTable, outputs: PredictOutputs
) -> dict[int, int]:
    """Write the GeoTIFFs from the parts, block by block; returns the pixel count of each class id."""
    from rasterio.windows import Window

    from cfipt_cli.io import mapio

    counts = np.zeros(classes.max_id + 1, dtype=np.int64)
    with contextlib.ExitStack() as renames:
        tmp = {p: renames.enter_context(atomic_file(p, outputs.overwrite)) for p in outputs.rasters()}
        with contextlib.ExitStack() as files:
            co = outputs.creation_options
            dst_map = files.enter_context(mapio.open_class_map(tmp[outputs.map_path], grid, classes, co))
            dst_proba = dst_conf = None
            if outputs.proba_path:
                dst_proba = files.enter_context(
                    mapio.open_probabilities(tmp[outputs.proba_path], grid, classes, co)
                )
            if outputs.confidence_path:
                dst_conf = files.enter_context(mapio.open_confidence(tmp[outputs.confidence_path], grid, co))
            for block in blocks:
                part = store.load(block.index)
                window = Window(block.col, block.row, block.width, block.height)
                dst_map.write(part["ids"], 1, window=window)
                counts += np.bincount(part["ids"].ravel(), minlength=len(counts))[: len(counts)]
                if dst_proba is not None:
                    dst_proba.write(part["proba"], window=window)
                if dst_conf is not None:
                    dst_conf.write(part["confidence"], 1, window=window)
            mapio.finish_class_map(dst_map, classes)
        mapio.write_category_names(tmp[outputs.map_path], classes)
    return {i: int(counts[i]) for i in classes.ids}


def write_quicklook(outputs: PredictOutputs, classes: ClassTable) -> None:
    """The PNG quicklook of the finished map, written atomically."""
    from cfipt_cli.io import mapio

    if outputs.quicklook_path is None:
        return
    with atomic_file(outputs.quicklook_path, outputs.overwrite) as tmp:
        mapio.write_quicklook(outputs.map_path, tmp, classes)


# ---------------------------------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------------------------------


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
) -> dict[str, Any]:
    """Classify every valid pixel of `scene` and write the map (and optional rasters) of `outputs`.

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

    Returns:
        A JSON-ready summary (on rank 0; other ranks return their own counts).
    """
    import rasterio

    from cfipt_cli.io.rasters import Grid

    ranks = ranks or Ranks()
    outputs = _validated_outputs(outputs)
    check_output_paths(outputs, scene, None)
    if settings.batch_size is not None and settings.batch_size < 1:
        raise CfiptUsageError(f"--batch-size must be at least 1, not {settings.batch_size}")
    settings = _resolved_settings(settings, device, ranks)
    started = time.perf_counter()
    with rasterio.open(scene.stack_path) as src:
        check_compatible(scene, info, src.count)
        grid = Grid(src.width, src.height, src.crs, src.transform)
    _check_creation_options(grid, info.classes, outputs, warn=not outputs.creation_options_warned)
    blocks = block_grid(grid.width, grid.height, settings.block_size)
    store = PartStore(outputs.map_path)
    if ranks.rank == 0:
        resumed = store.prepare(job_identity(scene, info, model_id, outputs, settings, device.type))
        if resumed:
            log.info("resuming: %d of %d blocks already done", resumed, len(blocks))
    ranks.barrier()  # the work folder is ready for every rank
    todo = [b for b in blocks if not store.has(b.index)]
    claims = BlockClaims(store, todo, ranks.world_size)
    with _keeping_parts(store, len(blocks), ranks.rank == 0):
        computed, pixels = _compute_blocks(
            scene, model, info, outputs, settings, device, store, claims, on_block
        )
    computed, pixels = ranks.sum([computed, pixels], device)
    ranks.barrier()  # every part is saved
    summary: dict[str, Any] = {
        "scene": str(scene.root),
        "width": grid.width,
        "height": grid.height,
        "blocks": len(blocks),
        "blocks_computed": computed,
        "blocks_resumed": len(blocks) - computed,
        "pixels_predicted_this_run": pixels,
        "device": str(device),
        "batch_size": settings.batch_size,
        "amp": settings.amp,
        "world_size": ranks.world_size,
    }
    if ranks.rank != 0:
        return summary
    with _keeping_parts(store, len(blocks), True):
        counts = _write_outputs(store, blocks, grid, info.classes, outputs)
    store.remove()
    seconds = time.perf_counter() - started
    summary.update(
        {
            "outputs": {k: str(v) for k, v in _named_outputs(outputs).items()},
            "pixels_classified": int(sum(counts.values())),
            "pixels_nodata": grid.width * grid.height - int(sum(counts.values())),
            "class_counts": {info.classes.name_of(i): n for i, n in counts.items()},
            "seconds": round(seconds, 3),
            "pixels_per_second": round(pixels / seconds, 1) if seconds > 0 else None,
        }
    )
    return summary


def _resolved_settings(settings: PredictSettings, device: torch.device, ranks: Ranks) -> PredictSettings:
    """Batch size and precision for `device` (logged), TF32 on for CUDA."""
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
    return resolved


@contextlib.contextmanager
def _keeping_parts(store: PartStore, total: int, owner: bool) -> Generator[None, None, None]:
    """On Ctrl-C say what is kept (exit 130); on any failure drop a work folder that holds no part."""
    from cfipt_cli.errors import InterruptedRun

    try:
        yield
    except BaseException as exc:
        saved = len(list(store.root.glob("block-*.npz"))) if store.root.exists() else 0
        if owner and saved == 0:
            store.remove()
        if not isinstance(exc, KeyboardInterrupt):
            raise
        if saved == 0:
            raise InterruptedRun("interrupted; no output was written") from None
        raise InterruptedRun(
            f"interrupted; {saved} of {total} blocks are saved in {store.root}: rerun the same command "
            "to resume"
        ) from None


def _write_outputs(
    store: PartStore, blocks: list[Block], grid: Any, classes: ClassTable, outputs: PredictOutputs
) -> dict[int, int]:
    """`assemble` and the quicklook; a GDAL or OS failure keeps the parts and says how to resume."""
    from cfipt_cli.io.gdal import gdal_errors

    failures: tuple[type[Exception], ...] = (*gdal_errors(), OSError)
    try:
        counts = assemble(store, blocks, grid, classes, outputs)
        write_quicklook(outputs, classes)
    except CfiptError:
        raise
    except failures as exc:
        raise CfiptError(
            f"writing {outputs.map_path} failed: {exc}; the finished blocks are kept in {store.root}, "
            "fix the cause and rerun the same command to resume"
        ) from exc
    return counts


def _check_creation_options(
    grid: Any, classes: ClassTable, outputs: PredictOutputs, warn: bool = True
) -> None:
    """GDAL accepts `--co` for every raster to write (checked before any block is computed): each
    output is probed with exactly the options and dtype it will be written with, the class map with
    its lossless subset in uint8/uint16 (`mapio.class_map_options`), `--proba` and `--confidence` with
    every option in float32. `warn`: say which options apply to the float rasters only."""
    from cfipt_cli.io import mapio
    from cfipt_cli.io.gtiff import class_map_dtype

    co = outputs.creation_options
    max_id = classes.max_id
    floats = outputs.proba_path is not None or outputs.confidence_path is not None
    notes = mapio.check_class_map_options(co, max_id, floats, outputs.map_path.name)
    map_co = mapio.class_map_options(co, max_id)
    mapio.check_creation_options(
        grid, class_map_dtype(max_id), 1, map_co, outputs.map_path.name, max_value=max_id
    )
    if outputs.proba_path is not None:
        band = {"INTERLEAVE": "BAND"}
        mapio.check_creation_options(
            grid, "float32", len(classes), co, outputs.proba_path.name, defaults=band
        )
    if outputs.confidence_path is not None:
        mapio.check_creation_options(grid, "float32", 1, co, outputs.confidence_path.name)
    for note in notes if warn else []:  # only once every output passed: bad input stays one line
        log.warning("%s", note)


def _scene_grid(scene: Scene) -> Any:
    """The scene's pixel grid (a `Grid`), read from its stack."""
    import rasterio

    from cfipt_cli.io.rasters import Grid

    with rasterio.open(scene.stack_path) as src:
        return Grid(src.width, src.height, src.crs, src.transform)


def _validated_outputs(outputs: PredictOutputs) -> PredictOutputs:
    """`outputs` with its `--co` options checked against GDAL's list and canonical (usage error, exit 2)."""
    from cfipt_cli.io.creation_options import validate_creation_options

    return replace(outputs, creation_options=validate_creation_options(outputs.creation_options))


def _named_outputs(outputs: PredictOutputs) -> dict[str, Path]:
    named = {
        "map": outputs.map_path,
        "proba": outputs.proba_path,
        "confidence": outputs.confidence_path,
        "quicklook": outputs.quicklook_path,
    }
    return {k: v for k, v in named.items() if v is not None}


def _compute_blocks(
    scene: Scene,
    model: torch.nn.Module,
    info: ModelInfo,
    outputs: PredictOutputs,
    settings: PredictSettings,
    device: torch.device,
    store: PartStore,
    todo: list[Block] | BlockClaims,
    on_block: BlockCallback | None,
) -> tuple[int, int]:
    """Classify the blocks of `todo` (a list, or the blocks this rank claims) and save a part for each.

    Returns (blocks, valid pixels) done by this process. `on_block(index, done, to_do)` gets as `to_do`
    the blocks left to every rank when this one started.
    """
    import rasterio

    classifier = BlockClassifier(
        model, info, device, settings, outputs.proba_path is not None, outputs.confidence_path is not None
    )
    halo, mean, std = info.patch_size // 2, info.mean, info.std
    pixels = 0
    with contextlib.ExitStack() as stack:
        src = stack.enter_context(rasterio.open(scene.stack_path))
        mask = stack.enter_context(rasterio.open(scene.mask_path))

        pin = device.type == "cuda"

        # The datasets are used by the reader thread only, one block at a time; for patches cut on the
        # device it also packs the block into the (pinned) buffer that goes there in one transfer.
        def read(block: Block) -> BlockInput:
            data = read_block(src, mask, block, halo, mean, std)
            return stage_block(data, pin) if settings.device_cut else data

        total = len(todo.todo) if isinstance(todo, BlockClaims) else len(todo)
        n_done = 0
        # closing() stops the reader before the datasets close, also when a block fails.
        stream = stack.enter_context(contextlib.closing(prefetched(todo, read, settings.prefetch)))
        for n_done, data in enumerate(stream, start=1):
            store.save(data.block.index, classifier.classify(data))
            pixels += len(data.rows)
            log.info("block %d (%d of %d) done (%d pixels)", data.block.index, n_done, total, len(data.rows))
            if on_block is not None:
                on_block(data.block.index, n_done, total)
    return n_done, pixels


# ---------------------------------------------------------------------------------------------------
# Entry point of the CLI: torch.distributed set-up, model loading, prediction
# ---------------------------------------------------------------------------------------------------


def init_ranks(device_spec: str, timeout_s: float = DEFAULT_DIST_TIMEOUT_S) -> tuple[Ranks, torch.device]:
    """Join the torch.distributed job torchrun started (WORLD_SIZE > 1), else a single process.

    Each rank of a CUDA job takes GPU LOCAL_RANK and NCCL (a `--device cuda:N` is overridden, with a
    warning). With more ranks on a node than GPUs (LOCAL_WORLD_SIZE > GPUs) ranks share them, GPU
    LOCAL_RANK % GPUs, and use gloo (NCCL refuses two ranks on one GPU); CPU jobs use gloo.
    `timeout_s` bounds every collective: a finished rank waits in one for the others' last blocks.
    """
    import datetime

    import torch

    from cfipt_cli.compute.devices import resolve_device

    device = resolve_device(device_spec)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Ranks(), device
    import torch.distributed as dist

    device_ids, backend = None, "gloo"
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        gpus = torch.cuda.device_count()
        shared = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > gpus
        if shared:
            log.warning("%d GPU(s) for more ranks on this node: ranks share them (gloo)", gpus)
        elif device.index is not None and device.index != local_rank:
            log.warning(
                "--device %s is overridden under torchrun: rank %s uses cuda:%d (LOCAL_RANK); pass "
                "--device cuda and choose GPUs with CUDA_VISIBLE_DEVICES",
                device,
                os.environ.get("RANK", "?"),
                local_rank,
            )
        device = torch.device("cuda", local_rank % gpus)
        torch.cuda.set_device(device)
        if not shared:
            device_ids, backend = [device.index], "nccl"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), device_ids, collectives_on_cpu=backend == "gloo")
    return ranks, device


def run_predict(
    scene_dir: Path,
    model_dir: Path,
    outputs: PredictOutputs,
    settings: PredictSettings,
    device_spec: str = "auto",
    on_block: BlockCallback | None = None,
) -> dict[str, Any]:
    """Open the scene and the model folder, then `predict_scene` (on every rank under torchrun)."""
    from cfipt_cli.contracts.model import read_model_info
    from cfipt_cli.contracts.scene import Scene

    outputs = _validated_outputs(outputs)  # a bad --co is a usage error before anything is opened
    scene = Scene.open(scene_dir)
    described = read_model_info(model_dir)
    described.check_scene(scene)  # fail fast, before building the backbone
    check_output_paths(outputs, scene, model_dir)
    _check_creation_options(_scene_grid(scene), described.classes, outputs)  # GDAL's view, also early
    outputs = replace(outputs, creation_options_warned=True)
    with _output_lock(outputs):
        return _run_loaded(scene, model_dir, outputs, settings, device_spec, on_block)


def _output_lock(outputs: PredictOutputs) -> contextlib.AbstractContextManager[None]:
    """The lock on every output (rank 0 only: the ranks of one torchrun job share the outputs)."""
    from cfipt_cli.io.outputs import locked_outputs

    if os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return locked_outputs(outputs.all_paths())


def _run_loaded(
    scene: Scene,
    model_dir: Path,
    outputs: PredictOutputs,
    settings: PredictSettings,
    device_spec: str,
    on_block: BlockCallback | None,
) -> dict[str, Any]:
    """Load the model and `predict_scene`, under torch.distributed when torchrun started us."""
    from cfipt_cli.contracts.model import WEIGHTS_NAME, load_model

    ranks, device = init_ranks(device_spec, settings.dist_timeout_s)
    try:
        model, info = load_model(model_dir, device)
        model_id = sha256_file(Path(model_dir) / WEIGHTS_NAME)
        return predict_scene(
            scene, model, info, outputs, settings, device, model_id=model_id, ranks=ranks, on_block=on_block
        )
    finally:
        if ranks.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
