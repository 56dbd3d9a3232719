"""S2GPT: the spectral-spatial guided prompt transformation of V-TPI (one module per direction).

A prompt P (n tokens x width w) is read as a sequence along its channel axis: w steps of n features.
That keeps the Mamba small (d_model = n) while the scan runs over the channels, as the spec says:

    x, z  = Lin(P)                                       mamba.in_proj: n -> 2 E  (E = expand * n)
    P_S2  = S2PtTrans(SiLU(DWConv(x)))                   mamba.conv, then the P_sa / P_sp guidance
    out   = Lin(SiLU(z) * LN(SSM(P_S2) + flip(SSM(flip(P_S2)))))   mamba.ssm both ways, mamba.out_proj
    P~    = Carrier(out)                                 width w_src -> w_dst (vision <-> text)

The last linear map of the path starts at zero (`zero_last_projection`), so P~ = 0 at initialisation
and the prompts start where the method puts them (P_T from the template, P_V as in MaPLe).

The Mamba parameters are those of `models.mamba.Mamba` (mamba-ssm's names: in_proj, conv1d, x_proj,
dt_proj, A_log, D, out_proj), so they load into mamba-ssm unchanged. Both scan directions share them.
S2PtTrans splits the E inner tokens in two halves: the first is projected to the patch's pixel space
(w -> HW), multiplied by P_sa and projected back; the second likewise through the band space (w -> C)
and P_sp. The guidance is per sample, so the output is (B, L, n, w_dst) for the L layers' prompts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.mamba import Mamba
from models.precision import lift_under_autocast

__all__ = [
    "LowRankCarrier",
    "NoInteraction",
    "S2GPTMamba",
    "S2GPTSizes",
    "S2GPTTransformer",
    "S2PtTrans",
    "last_projection",
    "make_carrier",
    "zero_last_projection",
]

# Chunk length of the PyTorch scan inside S2GPT; None picks it per solver (`models.mamba`): short
# chunks for the parallel (GPU) solver, whose memory grows with chunk x sequence length (the sequence
# is a whole prompt width, 768 for ViT-B), long ones for the stepping (CPU) solvers.
SCAN_CHUNK: int | None = None


@dataclass(frozen=True)
class S2GPTSizes:
    """The sizes of one S2GPT direction, shared by its Mamba and Transformer forms.

    Attributes:
        n_tokens: n, prompt tokens per layer.
        src_width: Width of the incoming prompt.
        dst_width: Width of the branch the result is added to.
        pixels: HW of the patch.
        bands: C, HSI bands.
        expand: Inner width E = expand * n.
        carrier_rank: Rank of the width carrier.
    """

    n_tokens: int
    src_width: int
    dst_width: int
    pixels: int
    bands: int
    expand: int = 2
    carrier_rank: int = 64

    def reversed(self) -> S2GPTSizes:
        """The sizes of the other direction (from the destination width back to the source width)."""
        return dataclasses.replace(self, src_width=self.dst_width, dst_width=self.src_width)


class S2PtTrans(nn.Module):
    """Prompt guidance by the spatial (P_sa) and spectral (P_sp) prompt matrices.

    Args:
        width: Prompt width w (the sequence axis of S2GPT).
        pixels: HW of the patch.
        bands: C, HSI bands.
    """

    def __init__(self, width: int, pixels: int, bands: int) -> None:
        super().__init__()
        self.to_spatial = nn.Linear(width, pixels)
        self.from_spatial = nn.Linear(pixels, width)
        self.to_spectral = nn.Linear(width, bands)
        self.from_spectral = nn.Linear(bands, width)

    def forward(self, x: Tensor, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """x (L, E, w) shared by the batch, P_sp (B, C, C), P_sa (B, HW, HW) -> (B, L, E, w)."""
        first, second = x.chunk(2, dim=-2)
        # P_sa acts on the pixel axis as in F_L = P_sa V_L; P_sp on the band axis as in V_H P_sp.
        spatial = _shared_times_per_sample(self.to_spatial(first), p_sa.transpose(1, 2))
        spectral = _shared_times_per_sample(self.to_spectral(second), p_sp)
        return torch.cat([self.from_spatial(spatial), self.from_spectral(spectral)], dim=-2)


def _shared_times_per_sample(shared: Tensor, per_sample: Tensor) -> Tensor:
    """(L, E, K) @ (B, K, M) -> (B, L, E, M).

    One (B, L E, K) @ (B, K, M) product: broadcasting (L, E, K) @ (B, 1, K, M) would first copy every
    per-sample matrix L times (about 60 MB per call for batch 256, 4 layers, 11 x 11 pixels).
    """
    layers, rows, _ = shared.shape
    return torch.matmul(shared.flatten(0, 1), per_sample).unflatten(1, (layers, rows))


class LowRankCarrier(nn.Module):
    """Carries a prompt from one branch's width to the other's: w_src -> rank -> w_dst."""

    def __init__(self, src_width: int, dst_width: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(src_width, rank, bias=False)
        self.up = nn.Linear(rank, dst_width)

    def forward(self, x: Tensor) -> Tensor:
        """(..., w_src) -> (..., w_dst)."""
        return self.up(self.down(x))


def make_carrier(src_width: int, dst_width: int, rank: int) -> nn.Module:
    """`LowRankCarrier`, or `nn.Identity` when both branches have the same width."""
    return nn.Identity() if src_width == dst_width else LowRankCarrier(src_width, dst_width, rank)


def last_projection(carrier: nn.Module, out_proj: nn.Linear) -> nn.Linear:
    """The last linear map of an S2GPT path: the carrier's `up`, or `out_proj` when the carrier is the identity."""
    return carrier.up if isinstance(carrier, LowRankCarrier) else out_proj


@torch.no_grad()
def zero_last_projection(layer: nn.Linear) -> None:
    """Start the interaction at exactly zero: P_VT = P_V and P_TV = P_T at initialisation.

    The last linear map of the path gets zero weights and bias. Otherwise its default bias alone adds
    one random vector of std ~0.07 to every prompt token of every layer, 3.5x the prompts' own std, and
    undoes the template initialisation of P_T. Gradients still reach it (its input is not zero), and
    through it the rest of S2GPT from the second step on, as with zero-initialised adapters.
    """
    layer.weight.zero_()
    if layer.bias is not None:
        layer.bias.zero_()


class S2GPTMamba(nn.Module):
    """S2GPT with a bidirectional Mamba along the prompt's channel axis (see the module docstring).

    Args:
        sizes: Prompt, patch and inner sizes.
        d_state: N of the selective scan.
        d_conv: Depthwise convolution kernel.
    """

    def __init__(self, sizes: S2GPTSizes, d_state: int = 16, d_conv: int = 4) -> None:
        super().__init__()
        self.mamba = Mamba(
            sizes.n_tokens, d_state=d_state, d_conv=d_conv, expand=sizes.expand, chunk_size=SCAN_CHUNK
        )
        self.s2pt = S2PtTrans(sizes.src_width, sizes.pixels, sizes.bands)
        self.norm = nn.LayerNorm(self.mamba.d_inner)
        self.carrier = make_carrier(sizes.src_width, sizes.dst_width, sizes.carrier_rank)
        zero_last_projection(self.output_layer())

    def output_layer(self) -> nn.Linear:
        """The last linear map of the path (zero at initialisation)."""
        return last_projection(self.carrier, self.mamba.out_proj)

    def forward(self, prompts: Tensor, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """Prompts (L, n, w_src), P_sp (B, C, C), P_sa (B, HW, HW) -> (B, L, n, w_dst)."""
        x, z = self.mamba.in_proj(prompts.transpose(1, 2)).chunk(2, dim=-1)  # (L, w, E) each
        x = self.s2pt(self.mamba.conv(x.transpose(1, 2)), p_sp, p_sa)  # (B, L, E, w)
        # both scan directions, summed; a float32 input under autocast gives a float32 result
        y = self.mamba.ssm_bidirectional(lift_under_autocast(x.flatten(0, 1))).view_as(x)
        y = self.norm(y.transpose(-1, -2)) * F.silu(z)  # (B, L, w, E)
        return self.carrier(self.mamba.out_proj(y).transpose(-1, -2))


class S2GPTTransformer(nn.Module):
    """Variant 4d: S2GPT with a Transformer encoder layer in place of the Mamba.

    Same interface and the same S2PtTrans guidance and width carrier; the channel-axis sequence gets a
    learnable position embedding (self-attention alone would ignore the channel order).

    Args:
        sizes: Prompt, patch and inner sizes.
        heads: Attention heads of the encoder layer (they divide the inner width).
    """

    def __init__(self, sizes: S2GPTSizes, heads: int = 2) -> None:
        super().__init__()
        inner = sizes.expand * sizes.n_tokens
        self.in_proj = nn.Linear(sizes.n_tokens, inner)
        self.s2pt = S2PtTrans(sizes.src_width, sizes.pixels, sizes.bands)
        self.position = nn.Parameter(torch.randn(sizes.src_width, inner) * 0.02)
        self.layer = nn.TransformerEncoderLayer(
            inner,
            heads,
            dim_feedforward=4 * inner,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.out_proj = nn.Linear(inner, sizes.n_tokens)
        self.carrier = make_carrier(sizes.src_width, sizes.dst_width, sizes.carrier_rank)
        zero_last_projection(self.output_layer())

    def output_layer(self) -> nn.Linear:
        """The last linear map of the path (zero at initialisation)."""
        return last_projection(self.carrier, self.out_proj)

    def forward(self, prompts: Tensor, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """Prompts (L, n, w_src), P_sp (B, C, C), P_sa (B, HW, HW) -> (B, L, n, w_dst)."""
        x = self.in_proj(prompts.transpose(1, 2))  # (L, w, E)
        x = self.s2pt(x.transpose(1, 2), p_sp, p_sa).transpose(-1, -2)  # (B, L, w, E)
        y = self.layer(x.flatten(0, 1) + self.position).view_as(x)
        return self.carrier(self.out_proj(y).transpose(-1, -2))


class NoInteraction(nn.Module):
    """Variants 4a-4c: nothing passes between the branches (adds a zero)."""

    def forward(self, prompts: Tensor | None, p_sp: Tensor, p_sa: Tensor) -> Tensor:
        """Returns a scalar zero, so `own prompts + this` keeps the prompts shared by the batch."""
        return p_sp.new_zeros(())
