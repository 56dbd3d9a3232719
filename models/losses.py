"""Losses of CF-IPT: L = L_CRC + 0.02 L_TRD (shared/spec/method.md, "Losses")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from models.precision import float32_region

if TYPE_CHECKING:
    from models.cfipt import CFIPTOutput

__all__ = ["TRD_WEIGHT", "cfipt_loss", "crc_loss", "trd_loss"]

TRD_WEIGHT = 0.02


def crc_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """L_CRC: cross-entropy over the scaled image-text cosine similarities, (B, K), (B,) -> scalar.

    Float32 under autocast too (models.precision)."""
    with float32_region(logits) as lift:
        return F.cross_entropy(lift(logits), targets)


def trd_loss(text_features: Tensor) -> Tensor:
    """L_TRD = mean |S_T - I|, S_T the cosine similarities between the K class text features.

    Args:
        text_features: L2-normalised (K, E) or per sample (B, K, E); averaged over samples too.

    Float32 under autocast too (models.precision).
    """
    with float32_region(text_features) as lift:
        features = lift(text_features)
        similarity = features @ features.transpose(-1, -2)
        identity = torch.eye(similarity.shape[-1], device=similarity.device, dtype=similarity.dtype)
        return (similarity - identity).abs().mean()


def cfipt_loss(
    output: CFIPTOutput, targets: Tensor, trd_weight: float = TRD_WEIGHT
) -> tuple[Tensor, dict[str, Tensor]]:
    """Total loss L_CRC + trd_weight * L_TRD.

    Args:
        output: The model output.
        targets: Class indices (B,) in 0..K-1 (index k = k-th class name).
        trd_weight: Weight of L_TRD (0.02 in the paper).

    Returns:
        The total (differentiable) and {"crc": .., "trd": ..} as detached scalars.
    """
    crc, trd = crc_loss(output.logits, targets), trd_loss(output.text_features)
    return crc + trd_weight * trd, {"crc": crc.detach(), "trd": trd.detach()}
