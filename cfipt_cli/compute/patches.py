"""Patches around pixels, cut on the fly from the scene stack, identical for training and prediction.

A pixel's sample is the p x p window centred on it (radius r = p // 2) of the normalised stack. Outside
the scene the stack is extended by numpy's 'symmetric' padding (a b c | c b a). Blocks are read with a
halo of r and only the part of the halo outside the scene is padded, which gives exactly the values that
padding the whole scene would give: predictions do not depend on the block size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def normalise(block: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(bands, h, w) raw values -> float32 z-scores per band; nodata (NaN) becomes 0, the band mean."""
    std_safe = np.where(std > 0, std, 1.0).astype(np.float32)
    out = (block.astype(np.float32) - mean[:, None, None].astype(np.float32)) / std_safe[:, None, None]
    return np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def read_block_with_halo(
    src: Any, row_off: int, col_off: int, height: int, width: int, halo: int
) -> np.ndarray:
    """Read rows/cols [off, off + size) of every band plus `halo` pixels on each side.

    `src` is an open rasterio dataset. The part of the halo inside the scene is read; the part outside is
    filled by symmetric padding. Returns (bands, height + 2 halo, width + 2 halo) in the dataset's dtype.
    """
    from rasterio.windows import Window

    r0, c0 = max(0, row_off - halo), max(0, col_off - halo)
    r1, c1 = min(src.height, row_off + height + halo), min(src.width, col_off + width + halo)
    data = src.read(window=Window(c0, r0, c1 - c0, r1 - r0))
    pad = (
        (0, 0),
        (r0 - (row_off - halo), (row_off + height + halo) - r1),
        (c0 - (col_off - halo), (col_off + width + halo) - c1),
    )
    if any(p for axis in pad for p in axis):
        data = np.pad(data, pad, mode="symmetric")
    return data


def extract_patches(padded: np.ndarray, rows: np.ndarray, cols: np.ndarray, patch_size: int) -> np.ndarray:
    """Cut (N, bands, p, p) patches centred on block pixels (rows, cols) from a halo-padded block.

    `padded` is (bands, h + 2r, w + 2r) with r = patch_size // 2, so the patch of block pixel (i, j)
    starts at padded[:, i, j]. A strided view avoids copying the block p * p times.
    """
    windows = sliding_window_view(padded, (patch_size, patch_size), axis=(1, 2))  # (bands, h, w, p, p)
    return np.ascontiguousarray(windows[:, rows, cols].transpose(1, 0, 2, 3))


def gather_patches(padded: Any, rows: Any, cols: Any, patch_size: int) -> Any:
    """`extract_patches` on torch tensors, on their device: (bands, H, W), (N,), (N,) -> (N, bands, p, p).

    Used by prediction to cut a batch's patches on the GPU from the block uploaded once: one
    `index_select` of the N * p * p pixel positions from the flattened block, then one copy to the
    patch-major layout. Pure indexing (no arithmetic on the values), so the result equals
    `extract_patches` bit for bit.
    """
    import torch

    bands, _, width = padded.shape
    offsets = torch.arange(patch_size, device=padded.device)
    r = (rows[:, None] + offsets)[:, :, None]  # (N, p, 1)
    c = (cols[:, None] + offsets)[:, None, :]  # (N, 1, p)
    flat = padded.reshape(bands, -1).index_select(1, (r * width + c).reshape(-1))  # (bands, N p p)
    return flat.view(bands, len(rows), patch_size, patch_size).transpose(0, 1).contiguous()


def read_pixel_patches(
    src: Any, rows: np.ndarray, cols: np.ndarray, patch_size: int, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Normalised (N, bands, p, p) float32 patches around scene pixels (rows, cols), read window by window.

    Used for the few labelled pixels of training, so only their patches are ever held in memory.
    """
    halo = patch_size // 2
    out = np.empty((len(rows), src.count, patch_size, patch_size), dtype=np.float32)
    for k, (row, col) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        raw = read_block_with_halo(src, row, col, 1, 1, halo)
        out[k] = normalise(raw, mean, std)
    return out


def split_sources(patches: np.ndarray, n_hsi: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, C + D, p, p) -> HSI (N, C, p, p) and auxiliary (N, D, p, p) views."""
    return patches[:, :n_hsi], patches[:, n_hsi:]
