"""Helpers of the model tests: the micro open_clip config and tiny CF-IPT builds."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from models import CFIPT, CFIPTConfig, RandomBackboneWarning

# Vision and text widths differ on purpose: the carriers between the branches must be exercised.
MICRO = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 16, "layers": 3, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 24, "heads": 2, "layers": 3},
}
MICRO_NAME = "cfipt-test-micro"
CLASSES = ("healthy grass", "water", "parking lot 2")


def micro_config(**overrides: Any) -> CFIPTConfig:
    """A tiny CF-IPT config on the micro backbone (C=5, D=2, p=5, K=3, n=4, L=2)."""
    settings: dict[str, Any] = {
        "hsi_bands": 5,
        "aux_bands": 2,
        "patch_size": 5,
        "class_names": CLASSES,
        "clip_model": MICRO_NAME,
        "pretrained": None,
        "n_prompt": 4,
        "depth": 2,
        "attn_dim": 8,
        "iae_channels": (8, 6, 4),
        "d_state": 4,
        "carrier_rank": 8,
    }
    settings.update(overrides)
    return CFIPTConfig(**settings)


def build(seed: int = 0, **overrides: Any) -> CFIPT:
    """A micro CF-IPT built under a fixed seed (random backbone, its warning silenced)."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        return CFIPT(micro_config(**overrides))


def patches(
    batch: int = 3, seed: int = 1, hsi: int = 5, aux: int = 2, p: int = 5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random normalised HSI and auxiliary patches."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, hsi, p, p, generator=gen), torch.randn(batch, aux, p, p, generator=gen)
