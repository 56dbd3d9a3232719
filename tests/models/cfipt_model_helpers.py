"""Helpers of the model tests: the micro open_clip config and tiny CF-IPT builds."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from models import CFIPT, CFIPTConfig, RandomBackboneWarning, cfipt_loss
from models.s2gpt import S2GPTMamba, S2GPTTransformer

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


@torch.no_grad()
def with_interaction(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Random weights in S2GPT's zero-initialised last projections, as after some training.

    At initialisation the interaction adds exactly zero; tests of what it does need it switched on.
    """
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, S2GPTMamba | S2GPTTransformer):
            layer = module.output_layer()
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * std)
    return model


def silent_parameters(model: CFIPT, hsi: torch.Tensor, aux: torch.Tensor, targets: torch.Tensor) -> list[str]:
    """Trainable parameters that get no gradient in the second of two SGD steps.

    Two steps, because S2GPT's last projection starts at zero: in step 1 only it gets a gradient, from
    step 2 on everything before it does too.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.SGD(trainable, lr=0.1)
    for _ in range(2):
        optimiser.zero_grad()
        cfipt_loss(model(hsi, aux), targets)[0].backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        optimiser.step()
    return [n for n, g in grads.items() if g is None or not g.any()]
