"""Training data of a scene: labelled pixels, patch reading, validation split, balanced batches.

Only the patches of labelled training pixels are ever read, never every patch of the scene. They are
cut on the fly from the stack (symmetric padding at the edges, the scene's normalisation statistics,
the same code as prediction) and kept in memory when they fit `cache_bytes`; otherwise each batch is
read from the stack when it is used (optionally in DataLoader workers).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cfipt_cli.compute.patches import extract_patches, normalise, read_block_with_halo, read_pixel_patches
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import DataError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_stream
from cfipt_cli.log import get_logger

log = get_logger(__name__)

DEFAULT_CACHE_BYTES = 1 << 30
READ_BLOCK = 256  # side of the stack blocks read to fill the patch cache


@dataclass
class LabelledPixels:
    """Training pixels of a scene: positions and class index (0..K-1 in `classes` order)."""

    rows: np.ndarray
    cols: np.ndarray
    targets: np.ndarray
    classes: ClassTable
    dropped: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Training pixels per class id (ids as strings, as in scene.json)."""
        per_index = np.bincount(self.targets, minlength=len(self.classes))
        return {str(c.id): int(n) for c, n in zip(self.classes, per_index, strict=True)}


def scene_fingerprint(scene: Scene) -> str:
    """sha256 of what a training run depends on: the training labels and the stack's description."""
    with scene.train_labels_path.open("rb") as handle:
        digest = sha256_stream(handle)
    keys = ("width", "height", "bands", "band_roles", "classes", "statistics", "transform")
    digest.update(json.dumps({k: scene.meta.get(k) for k in keys}, sort_keys=True).encode())
    return digest.hexdigest()


def _labelled_positions(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, ids) of every labelled, valid training pixel, read block by block."""
    import rasterio

    rows, cols, ids = [], [], []
    outside_mask = 0
    with rasterio.open(scene.train_labels_path) as labels, rasterio.open(scene.mask_path) as mask:
        for _, window in labels.block_windows(1):
            block = labels.read(1, window=window)
            valid = mask.read(1, window=window) > 0
            outside_mask += int(np.count_nonzero((block > 0) & ~valid))
            r, c = np.nonzero((block > 0) & valid)
            rows.append(r + window.row_off)
            cols.append(c + window.col_off)
            ids.append(block[r, c].astype(np.int64))
    if outside_mask:
        log.warning("%d training pixel(s) lie on nodata and are ignored", outside_mask)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(ids)


def labelled_pixels(scene: Scene, drop_empty_classes: bool = False) -> LabelledPixels:
    """The training pixels of `scene`, checked against its class table.

    Raises:
        DataError: no training pixel at all; a label not in the class table; a class without any
            training pixel (unless `drop_empty_classes`, which drops it with a warning); fewer than
            two classes left to train.
    """
    rows, cols, ids = _labelled_positions(scene)
    if len(ids) == 0:
        raise DataError(
            f"scene {scene.root} has no training pixels ({scene.train_labels_path.name} is empty); "
            "prepare it with training labels"
        )
    table = scene.classes
    unknown = sorted(set(np.unique(ids).tolist()) - set(table.ids))
    if unknown:
        raise DataError(
            f"training labels use class id(s) {unknown} that are not in the class table of {scene.root}"
        )
    present = set(np.unique(ids).tolist())
    empty = [c for c in table if c.id not in present]
    if empty and not drop_empty_classes:
        names = ", ".join(f"{c.name!r} (id {c.id})" for c in empty)
        raise DataError(
            f"class {names} has no training pixel in {scene.root}; label some, or pass "
            "--drop-empty-classes to train without it"
        )
    for c in empty:
        log.warning(
            "class %r (id %d) has no training pixel and is dropped: the model cannot predict it", c.name, c.id
        )
    kept = ClassTable(c for c in table if c.id in present)
    if len(kept.ids) < 2:
        only = f"only class {kept.names[0]!r} (id {kept.ids[0]})" if len(kept.ids) else "no class"
        raise DataError(
            f"scene {scene.root} has training pixels of {only}: a classifier needs at least two "
            "classes; label pixels of the other land covers (check --label-field)"
        )
    index_of = {cid: k for k, cid in enumerate(kept.ids)}
    targets = np.array([index_of[int(i)] for i in ids], dtype=np.int64)
    dropped = [{"id": c.id, "name": c.name} for c in empty]
    return LabelledPixels(rows=rows, cols=cols, targets=targets, classes=kept, dropped=dropped)


def split_validation(targets: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out: round(fraction * n_c) pixels of each class, never a class's last pixel.

    Returns:
        (train indices, validation indices), both sorted.
    """
    if fraction <= 0:
        return np.arange(len(targets)), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng([seed, 1])
    val: list[np.ndarray] = []
    for k in np.unique(targets):
        members = np.flatnonzero(targets == k)
        n_val = min(round(fraction * len(members)), len(members) - 1)
        val.append(rng.permutation(members)[:n_val])
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    return np.setdiff1d(np.arange(len(targets)), val_idx), val_idx


def balanced_batches(
    indices: np.ndarray, targets: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch of class-balanced batches over `indices` (positions into `targets`).

    An epoch has about len(indices) samples, drawn equally from every class: each class contributes
    ceil(N / K) samples, cycling through fresh permutations of its pixels (small classes repeat, large
    ones are subsampled differently each epoch). Rounds of one sample per class, in a random class
    order, are laid end to end, so every batch holds the classes in near-equal numbers.
    """
    classes = np.unique(targets[indices])
    per_class = -(-len(indices) // len(classes))
    columns = []
    for k in classes:
        members = indices[targets[indices] == k]
        reps = -(-per_class // len(members))
        cycle = np.concatenate([rng.permutation(members) for _ in range(reps)])
        columns.append(cycle[:per_class])
    grid = np.stack(columns, axis=1)  # (per_class, K)
    order = np.argsort(rng.random(grid.shape), axis=1)
    sequence = np.take_along_axis(grid, order, axis=1).reshape(-1)
    return [sequence[i : i + batch_size] for i in range(0, len(sequence), batch_size)]


def augment(patches: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply one of the 8 flips / rot90s (the dihedral group) to each (bands, p, p) patch."""
    choice = rng.integers(0, 8, size=len(patches))
    out = np.empty_like(patches)
    for i, k in enumerate(choice.tolist()):
        rotated = np.rot90(patches[i], k % 4, axes=(1, 2))
        out[i] = rotated[:, :, ::-1] if k >= 4 else rotated
    return out


class PatchStore:
    """Normalised patches of the training pixels, cached in memory or read per batch.

    Indexing with an array of pixel positions returns (B, bands, p, p) float32. The object pickles
    without its open dataset, so DataLoader workers each open the stack themselves.
    """

    def __init__(
        self, scene: Scene, pixels: LabelledPixels, patch_size: int, cache_bytes: int = DEFAULT_CACHE_BYTES
    ):
        self.stack_path = str(scene.stack_path)
        self.rows, self.cols = pixels.rows, pixels.cols
        self.patch_size = patch_size
        self.mean, self.std = scene.band_mean, scene.band_std
        self.bands = len(self.mean)
        self._src: Any = None
        self._pid = -1
        size = len(self.rows) * self.bands * patch_size * patch_size * 4
        self.cached: np.ndarray | None = self._read_all() if size <= cache_bytes else None

    def _open(self) -> Any:
        import rasterio

        if self._src is None or self._pid != os.getpid():  # a DataLoader worker opens its own
            self._src, self._pid = rasterio.open(self.stack_path), os.getpid()
        return self._src

    def _read(self, index: np.ndarray) -> np.ndarray:
        """Patches of a few pixels (a batch), each read as a small window."""
        return read_pixel_patches(
            self._open(), self.rows[index], self.cols[index], self.patch_size, self.mean, self.std
        )

    def _read_all(self) -> np.ndarray:
        """Patches of every pixel, reading each block of the stack (plus halo) once."""
        src, halo = self._open(), self.patch_size // 2
        out = np.empty((len(self.rows), self.bands, self.patch_size, self.patch_size), dtype=np.float32)
        cell = (self.rows // READ_BLOCK) * (
            self.cols.max(initial=0) // READ_BLOCK + 1
        ) + self.cols // READ_BLOCK
        for key in np.unique(cell):
            members = np.flatnonzero(cell == key)
            r0 = int(self.rows[members[0]]) // READ_BLOCK * READ_BLOCK
            c0 = int(self.cols[members[0]]) // READ_BLOCK * READ_BLOCK
            h, w = min(READ_BLOCK, src.height - r0), min(READ_BLOCK, src.width - c0)
            block = normalise(read_block_with_halo(src, r0, c0, h, w, halo), self.mean, self.std)
            out[members] = extract_patches(
                block, self.rows[members] - r0, self.cols[members] - c0, self.patch_size
            )
        return out

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        if self.cached is not None:
            return self.cached[index]
        return self._read(index)

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_src": None, "_pid": -1}

    def close(self) -> None:
        """Close the stack if it is open."""
        if self._src is not None:
            self._src.close()
            self._src = None
