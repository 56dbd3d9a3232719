"""MFPG, phase 1 of CF-IPT: IS2PG (cross-attention prompt matrices + residual fusion) and AMFF.

Shapes: X_H (B, C, p, p) and X_L (B, D, p, p) are flattened to (B, HW, C) and (B, HW, D), HW = p * p.

- P_sp (B, C, C)  = softmax(L_q(X_L)^T L_k(X_H) / sqrt(HW))        spectral prompt matrix
- P_sa (B, HW, HW) = softmax(L_q'(X_H) L_k'(X_L)^T / sqrt(d_a))    spatial prompt matrix
- V = L_v([X_H, X_L]) = [V_H, V_L];  F_H = X_H + V_H P_sp;  F_L = X_L + P_sa V_L;  F_m = [F_H, F_L]
- AMFF: F~ = F_m * sigmoid(MLP(avg F_m) + MLP(max F_m));
        F_f = conv1x1(F~) + conv3x3(F~) + conv5x5(F~) + F_m

The ablations swap whole parts: variant 1 replaces both prompt generators by `OnesMatrix` (uniform
attention), variant 2 replaces the value residual by `ConcatFusion` and AMFF by `nn.Identity`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models.precision import float32_region

__all__ = [
    "AMFF",
    "MFPG",
    "ConcatFusion",
    "OnesMatrix",
    "ResidualFusion",
    "SpatialPromptMatrix",
    "SpectralPromptMatrix",
]


def _tokens(image: Tensor) -> Tensor:
    """(B, ch, H, W) -> (B, HW, ch)."""
    return image.flatten(2).transpose(1, 2)


def _with_ones(x: Tensor) -> Tensor:
    """(B, HW, D) -> [X, 1] (B, HW, D + 1): an affine map of X is then one matrix product."""
    return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)


def _affine_matrix(linear: nn.Linear) -> Tensor:
    """[W, b] (out, in + 1), so that linear(X) = [X, 1] @ [W, b]^T."""
    bias = linear.bias if linear.bias is not None else linear.weight.new_zeros(linear.out_features)
    return torch.cat([linear.weight, bias[:, None]], dim=1)


class _PromptMatrix(nn.Module):
    """softmax(scores) of a query map and a key map of the two sources, in float32 (also under autocast).

    Each prompt matrix computes its scaled scores (`scaled_scores`) in a factored order that never forms
    the queries and keys; the precision and the softmax are the same for both.
    """

    def __init__(self, query: nn.Linear, key: nn.Linear) -> None:
        super().__init__()
        self.query, self.key = query, key

    def forward(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        """(B, HW, C), (B, HW, D) -> the prompt matrix in float32, rows sum to 1."""
        with float32_region(x_h) as lift:
            return torch.softmax(self.scaled_scores(lift(x_h), lift(x_l)), dim=-1)

    def scaled_scores(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        """The scores before the softmax, from float32 inputs."""
        raise NotImplementedError


class SpectralPromptMatrix(_PromptMatrix):
    """P_sp = softmax(Q^T K / sqrt(HW)) with Q = L_q(X_L), K = L_k(X_H), both (B, HW, C): (B, C, C).

    Q comes from the D auxiliary bands, so Q^T K has rank D + 1 and is computed in that order:
    Q^T K = [W_q, b_q] ([X_L, 1]^T K), [X_L, 1]^T K = ([X_L, 1]^T X_H) W_k^T + ([X_L, 1]^T 1) b_k^T.
    The same numbers up to rounding, without forming Q or K: about C^2 (D + 1) multiply-adds per
    sample instead of 2 C^2 HW (60x fewer for C = 144, D = 1, p = 11).
    """

    def __init__(self, hsi_bands: int, aux_bands: int) -> None:
        super().__init__(query=nn.Linear(aux_bands, hsi_bands), key=nn.Linear(hsi_bands, hsi_bands))

    def scaled_scores(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        """Q^T K / sqrt(HW), (B, C, C)."""
        a_t = _with_ones(x_l).transpose(1, 2)  # (B, D + 1, HW)
        a_t_k = (a_t @ x_h) @ self.key.weight.T + a_t.sum(dim=-1, keepdim=True) * self.key.bias
        scores = _affine_matrix(self.query) @ a_t_k  # (C, D + 1) @ (B, D + 1, C)
        return scores / math.sqrt(x_h.shape[1])


class SpatialPromptMatrix(_PromptMatrix):
    """P_sa = softmax(L_q'(X_H) L_k'(X_L)^T / sqrt(d_a)), (B, HW, HW).

    The keys come from the D auxiliary bands, so the scores have rank D + 1 and are computed as
    (X_H (W_q'^T [W_k', b_k']) + b_q'^T [W_k', b_k']) [X_L, 1]^T: the same numbers up to rounding,
    without the (HW, d_a) queries and keys (HW C (D + 1) + HW^2 (D + 1) multiply-adds per sample
    instead of HW d_a (C + D + HW)).
    """

    def __init__(self, hsi_bands: int, aux_bands: int, attn_dim: int) -> None:
        super().__init__(query=nn.Linear(hsi_bands, attn_dim), key=nn.Linear(aux_bands, attn_dim))

    def scaled_scores(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        """L_q'(X_H) L_k'(X_L)^T / sqrt(d_a), (B, HW, HW)."""
        key = _affine_matrix(self.key)  # (d_a, D + 1)
        left = x_h @ (self.query.weight.T @ key) + self.query.bias @ key  # (B, HW, D + 1)
        scores = left @ _with_ones(x_l).transpose(1, 2)
        return scores / math.sqrt(self.query.out_features)


class OnesMatrix(nn.Module):
    """Variant 1: an all-ones prompt matrix over the HSI channels or the patch's pixels, normalised.

    The paper's "all-ones matrices" are taken as uniform attention, ones / size (every row sums to 1 like
    a softmax row): the unnormalised ones would also scale V_H P_sp by C and P_sa V_L by HW (F_f std
    7.5 instead of 1.07 at initialisation), so the ablation would change the scale of the fused
    features as well as remove the guidance.
    """

    def __init__(self, axis: str) -> None:
        super().__init__()
        if axis not in ("spectral", "spatial"):
            raise ValueError(f"axis must be 'spectral' or 'spatial', not {axis!r}")
        self.axis = axis

    def forward(self, x_h: Tensor, x_l: Tensor) -> Tensor:
        """(B, HW, C), (B, HW, D) -> 1 / size, (B, C, C) or (B, HW, HW) (an expanded view, no copy)."""
        size = x_h.shape[2] if self.axis == "spectral" else x_h.shape[1]
        return x_h.new_full((), 1.0 / size).expand(x_h.shape[0], size, size)


class ResidualFusion(nn.Module):
    """F_H = X_H + V_H P_sp, F_L = X_L + P_sa V_L with [V_H, V_L] = L_v([X_H, X_L])."""

    def __init__(self, hsi_bands: int, aux_bands: int) -> None:
        super().__init__()
        self.hsi_bands = hsi_bands
        self.value = nn.Linear(hsi_bands + aux_bands, hsi_bands + aux_bands)

    def forward(self, x_h: Tensor, x_l: Tensor, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """Token form in, token form out: (B, HW, C), (B, HW, D) -> F_m (B, HW, C + D)."""
        v_h, v_l = self.value(torch.cat([x_h, x_l], dim=-1)).split([self.hsi_bands, x_l.shape[-1]], dim=-1)
        return torch.cat([x_h + v_h @ p_sp, x_l + p_sa @ v_l], dim=-1)


class ConcatFusion(nn.Module):
    """Variant 2: no fusion, F_m = [X_H, X_L] (the prompt matrices are not used here)."""

    def forward(self, x_h: Tensor, x_l: Tensor, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """(B, HW, C), (B, HW, D) -> (B, HW, C + D)."""
        return torch.cat([x_h, x_l], dim=-1)


class AMFF(nn.Module):
    """Adaptive multiscale feature fusion (channel attention + 1x1/3x3/5x5 convolutions + residual).

    The three convolutions share a 1x1 reduction to `width` channels (our bottleneck: dense
    (C + D) -> (C + D) kernels would cost 35 (C + D)^2 parameters, 1.2 M for Augsburg alone).
    """

    def __init__(self, channels: int, reduction: int = 16, width: int = 8) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.attention = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.reduce = nn.Conv2d(channels, width, 1)
        self.branches = nn.ModuleList(nn.Conv2d(width, channels, k, padding=k // 2) for k in (1, 3, 5))

    def forward(self, f_m: Tensor) -> Tensor:
        """(B, C + D, p, p) -> F_f of the same shape."""
        z = self.attention(f_m.mean(dim=(2, 3))) + self.attention(f_m.amax(dim=(2, 3)))
        reduced = self.reduce(f_m * torch.sigmoid(z)[:, :, None, None])
        return sum((branch(reduced) for branch in self.branches), f_m)


class MFPG(nn.Module):
    """Multisource fusion and prompt generation: (X_H, X_L) -> (F_f, P_sp, P_sa).

    Args:
        hsi_bands: C.
        aux_bands: D.
        attn_dim: d_a of the spatial attention.
        amff_reduction: Channel-attention reduction of AMFF.
        amff_width: Bottleneck of AMFF's convolution branches.
        ones_matrices: Variant 1 (all-ones P_sp and P_sa).
        concat_only: Variant 2 (F_f = [X_H, X_L]).
    """

    def __init__(
        self,
        hsi_bands: int,
        aux_bands: int,
        attn_dim: int = 64,
        amff_reduction: int = 16,
        amff_width: int = 8,
        *,
        ones_matrices: bool = False,
        concat_only: bool = False,
    ) -> None:
        super().__init__()
        channels = hsi_bands + aux_bands
        self.spectral: nn.Module = (
            OnesMatrix("spectral") if ones_matrices else SpectralPromptMatrix(hsi_bands, aux_bands)
        )
        self.spatial: nn.Module = (
            OnesMatrix("spatial") if ones_matrices else SpatialPromptMatrix(hsi_bands, aux_bands, attn_dim)
        )
        self.fusion: nn.Module = ConcatFusion() if concat_only else ResidualFusion(hsi_bands, aux_bands)
        self.amff: nn.Module = nn.Identity() if concat_only else AMFF(channels, amff_reduction, amff_width)

    def forward(self, hsi: Tensor, aux: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B, C, p, p), (B, D, p, p) -> F_f (B, C + D, p, p), P_sp (B, C, C), P_sa (B, HW, HW)."""
        x_h, x_l = _tokens(hsi), _tokens(aux)
        p_sp, p_sa = self.spectral(x_h, x_l), self.spatial(x_h, x_l)
        f_m = self.fusion(x_h, x_l, p_sp, p_sa).transpose(1, 2).reshape(hsi.shape[0], -1, *hsi.shape[2:])
        return self.amff(f_m), p_sp, p_sa
