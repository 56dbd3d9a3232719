"""Input adaptation encoder: F_f (B, C + D, p, p) -> the backbone's image (B, 3, H, W).

Four ConvTranspose2d + BatchNorm2d + GELU layers; the last one gives 3 channels. The geometry of every
layer (stride, kernel, padding, output_padding) is planned per axis so that the output size is exactly
the backbone's image size for any patch size (5..15 and beyond), with growth spread evenly over the
layers; no resize step is needed. Variant 3 swaps the whole encoder for `BilinearAdapter`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cfipt_cli.errors import CfiptUsageError

__all__ = ["IAE", "BilinearAdapter", "UpGeometry", "plan_upsampling"]

_MAX_STRIDE = 4
_EXTRA_KERNEL = 3  # kernel in stride .. stride + 3: every output pixel is covered, no checkerboard holes


@dataclass(frozen=True)
class UpGeometry:
    """One ConvTranspose2d along one axis: out = (size_in - 1) * stride - 2 * padding + kernel + output_padding."""

    size_in: int
    size_out: int
    stride: int
    kernel: int
    padding: int
    output_padding: int


def _candidates(size_in: int, limit: int) -> list[UpGeometry]:
    found = []
    for stride in range(1, _MAX_STRIDE + 1):
        for kernel in range(max(stride, 2), stride + _EXTRA_KERNEL + 1):
            for padding in range((kernel - 1) // 2 + 1):
                for output_padding in range(stride):
                    out = (size_in - 1) * stride - 2 * padding + kernel + output_padding
                    if size_in <= out <= limit:
                        found.append(UpGeometry(size_in, out, stride, kernel, padding, output_padding))
    return found


def plan_upsampling(size_in: int, size_out: int, layers: int = 4) -> tuple[UpGeometry, ...]:
    """Geometries of `layers` transposed convolutions taking `size_in` to exactly `size_out`.

    Minimises the squared deviation of each layer's log growth from an even share (then small
    kernels, padding and output padding), by dynamic programming over the intermediate sizes.

    Raises:
        CfiptUsageError: No exact plan exists (patch larger than the image or far too small).
    """
    plan = _best_plan(size_in, size_out, layers)
    if plan is None:
        raise CfiptUsageError(
            f"cannot upsample a {size_in} x {size_in} patch to {size_out} x {size_out} in {layers} "
            f"transposed convolutions; use a patch size between 3 and {size_out // 2}"
        )
    return plan[1]


@functools.cache
def _best_plan(size_in: int, size_out: int, layers: int) -> tuple[float, tuple[UpGeometry, ...]] | None:
    if size_in < 1 or size_out < size_in:
        return None
    if layers == 0:
        return (0.0, ()) if size_in == size_out else None
    share = math.log(size_out / size_in) / layers  # even log growth of the remaining layers
    best: tuple[float, tuple[UpGeometry, ...]] | None = None
    for geo in _candidates(size_in, size_out):
        rest = _best_plan(geo.size_out, size_out, layers - 1)
        if rest is None:
            continue
        cost = (math.log(geo.size_out / size_in) - share) ** 2
        cost += 1e-3 * (geo.kernel + geo.padding + geo.output_padding) + rest[0]
        if best is None or cost < best[0]:
            best = (cost, (geo, *rest[1]))
    return best


class _UpBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, rows: UpGeometry, cols: UpGeometry) -> None:
        conv = nn.ConvTranspose2d(
            c_in,
            c_out,
            kernel_size=(rows.kernel, cols.kernel),
            stride=(rows.stride, cols.stride),
            padding=(rows.padding, cols.padding),
            output_padding=(rows.output_padding, cols.output_padding),
        )
        super().__init__(conv, nn.BatchNorm2d(c_out), nn.GELU())


class IAE(nn.Module):
    """4 x (ConvTranspose2d + BatchNorm2d + GELU): (B, in_channels, p, p) -> (B, 3, H, W).

    Args:
        in_channels: C + D.
        patch_size: p.
        image_size: The backbone's (H, W).
        channels: Widths after layers 1..3 (layer 4 gives 3).
    """

    def __init__(
        self,
        in_channels: int,
        patch_size: int,
        image_size: tuple[int, int],
        channels: tuple[int, ...] = (32, 16, 8),
    ) -> None:
        super().__init__()
        rows = plan_upsampling(patch_size, image_size[0])
        cols = plan_upsampling(patch_size, image_size[1])
        widths = [in_channels, *channels, 3]
        self.blocks = nn.Sequential(
            *(_UpBlock(widths[i], widths[i + 1], rows[i], cols[i]) for i in range(len(rows)))
        )

    def forward(self, f_f: Tensor) -> Tensor:
        """(B, C + D, p, p) -> (B, 3, H, W)."""
        return self.blocks(f_f)


class BilinearAdapter(nn.Module):
    """Variant 3: no parameters. Bands are averaged in 3 contiguous groups, then bilinear upsampling.

    The paper replaces the IAE by bilinear interpolation; something must also turn C + D bands into
    3 channels, and averaging band groups does it without adding trainable parameters.
    """

    def __init__(self, in_channels: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        group = [min(c * 3 // in_channels, 2) for c in range(in_channels)] if in_channels >= 3 else [0, 1, 2]
        mix = torch.zeros(3, in_channels)
        for channel, g in enumerate(group):
            mix[g, channel % in_channels] = 1.0
        self.register_buffer("mix", mix / mix.sum(dim=1, keepdim=True), persistent=False)

    def forward(self, f_f: Tensor) -> Tensor:
        """(B, C + D, p, p) -> (B, 3, H, W)."""
        rgb = torch.einsum("gc,bchw->bghw", self.mix.to(f_f.dtype), f_f)
        return F.interpolate(rgb, size=self.image_size, mode="bilinear", align_corners=False)
