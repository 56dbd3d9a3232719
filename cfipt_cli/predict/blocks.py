"""The scene's blocks: the grid of square windows, reading one (halo, normalisation, valid pixels) from
the scene's rasters, opened once per run, and reading ahead in one background thread."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.compute.patches import normalise, read_block_with_halo
from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.io.rasters import Grid
from cfipt_cli.predict.settings import PIXEL_LABELS

if TYPE_CHECKING:
    from cfipt_cli.compute.devices import Staged
    from cfipt_cli.contracts.scene import Scene


@dataclass(frozen=True)
class Block:
    """A window of the scene: index in row-major order, offsets and size in pixels."""

    index: int
    row: int
    col: int
    height: int
    width: int


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


@dataclass(frozen=True)
class SceneRasters:
    """The scene's stack and mask (rasterio datasets), open for the whole run: the checks read the grid
    and band count from them, the reader thread the blocks (one thread at a time). With `--pixels`
    other than "all", `labels` are the label rasters whose labelled pixels are the ones to classify."""

    stack: Any
    mask: Any
    pixels: str = "all"
    labels: tuple[Any, ...] = ()

    @property
    def grid(self) -> Grid:
        return Grid(self.stack.width, self.stack.height, self.stack.crs, self.stack.transform)

    def read_block(self, block: Block, halo: int, mean: np.ndarray, std: np.ndarray) -> BlockInput:
        """Read, pad and normalise one block; valid = mask == 1 and every band finite at the pixel (and,
        with `--pixels`, labelled in one of `labels`). A block without such a pixel reads no stack."""
        from rasterio.windows import Window

        from cfipt_cli.io.gdal import gdal_errors

        try:
            window = Window(block.col, block.row, block.width, block.height)
            wanted = self.mask.read(1, window=window) == 1
            if self.labels:
                wanted &= np.any([labels.read(1, window=window) != 0 for labels in self.labels], axis=0)
            if not wanted.any():
                empty = np.empty(0, dtype=np.int64)
                return BlockInput(block, np.zeros((self.stack.count, 0, 0), np.float32), empty, empty)
            raw = read_block_with_halo(self.stack, block.row, block.col, block.height, block.width, halo)
        except gdal_errors() as exc:
            raise DataError(
                f"cannot read block {block.index} of the scene ({exc}); is the scene folder intact?"
            ) from exc
        centre = raw[:, halo : halo + block.height, halo : halo + block.width]
        rows, cols = np.nonzero(np.isfinite(centre).all(axis=0) & wanted)
        return BlockInput(block, normalise(raw, mean, std), rows, cols)


def label_rasters_of(scene: Scene, pixels: str) -> list[Any]:
    """The label rasters of `scene` whose labelled pixels `--pixels` selects (none for "all")."""
    chosen = PIXEL_LABELS[pixels]
    if chosen and not any(scene.labelled_pixels(part) for part in chosen):
        raise DataError(f"{scene.root} has no {' or '.join(chosen)} pixels to classify (--pixels {pixels})")
    return [{"train": scene.train_labels_path, "test": scene.test_labels_path}[part] for part in chosen]


@contextlib.contextmanager
def open_scene_rasters(scene: Scene, pixels: str = "all") -> Iterator[SceneRasters]:
    """The stack and the mask of `scene` (and the label rasters `pixels` needs), open until the block
    ends."""
    import rasterio

    with contextlib.ExitStack() as files:
        stack = files.enter_context(rasterio.open(scene.stack_path))
        mask = files.enter_context(rasterio.open(scene.mask_path))
        labels = tuple(files.enter_context(rasterio.open(p)) for p in label_rasters_of(scene, pixels))
        yield SceneRasters(stack, mask, pixels, labels)


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
