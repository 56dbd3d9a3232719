"""Helpers of the predict tests: model descriptions, a fast stand-in model, a per-pixel reference.

Most pipeline properties (halos, block sizes, nodata, resume, ranks) do not depend on what the model
computes, only on which pixels of the patch it looks at. `PatchLinear` looks at every one of them and
runs in float64, so that batching never changes an argmax; a few tests use the real CF-IPT network.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from cfipt_cli.contracts.model import ModelInfo
from cfipt_cli.contracts.scene import Scene


class PatchLinear(nn.Module):
    """logits = W . [hsi, aux].flatten() + b, in float64: every pixel of the patch matters."""

    def __init__(self, n_bands: int, patch_size: int, n_classes: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        size = n_bands * patch_size * patch_size
        self.weight = nn.Parameter(torch.randn(n_classes, size, generator=generator, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(n_classes, generator=generator, dtype=torch.float64))

    def forward(self, hsi: torch.Tensor, aux: torch.Tensor) -> Any:
        x = torch.cat([hsi, aux], dim=1).flatten(1).double()
        return SimpleNamespace(logits=x @ self.weight.T + self.bias)


def model_info(scene: Scene, patch_size: int, root: Path | None = None, **overrides: Any) -> ModelInfo:
    """A ModelInfo as `cfipt train` would write it for `scene` (normalisation = the scene's statistics)."""
    meta = {
        "format": "cfipt-model",
        "classes": scene.meta["classes"],
        "band_layout": scene.band_layout,
        "band_roles": dict(scene.meta["band_roles"]),
        "normalisation": {"mean": scene.band_mean.tolist(), "std": scene.band_std.tolist()},
        "patch_size": patch_size,
        "model_config": {},
        **overrides,
    }
    return ModelInfo(root=root or scene.root, meta=meta)


def reference_ids(stack: np.ndarray, model: nn.Module, info: ModelInfo, valid: np.ndarray) -> np.ndarray:
    """Class ids pixel by pixel: normalise the whole scene, np.pad it symmetrically, cut each patch."""
    p, r = info.patch_size, info.patch_size // 2
    std = np.where(info.std > 0, info.std, 1)
    norm = np.nan_to_num((stack - info.mean[:, None, None]) / std[:, None, None]).astype(np.float32)
    padded = np.pad(norm, ((0, 0), (r, r), (r, r)), mode="symmetric")
    rows, cols = np.nonzero(valid)
    patches = np.stack([padded[:, i : i + p, j : j + p] for i, j in zip(rows, cols, strict=True)])
    with torch.no_grad():
        x = torch.from_numpy(patches)
        logits = model(x[:, : info.n_hsi], x[:, info.n_hsi :]).logits
    ids = np.zeros(valid.shape, dtype=np.uint8)
    ids[rows, cols] = np.asarray(info.class_ids)[logits.argmax(1).numpy()]
    return ids
