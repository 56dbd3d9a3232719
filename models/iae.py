"""Input adaptation encoder: F_f (B, C + D, p, p) -> the backbone's image (B, 3, H, W).

Four ConvTranspose2d + BatchNorm2d + GELU layers; the last one gives 3 channels. The geometry of every
layer (stride, kernel, padding, output_padding) is planned per axis so that the output size is exactly
the backbone's image size for the usual patch sizes (every p in 3..27 for 224 px), preferring small
kernels and growth spread over the layers; no resize step is needed. Every output pixel of every
layer is reached by a kernel tap (kernel >= stride, output_padding <= padding), so every pixel of the
image CLIP sees depends on the input patch: none is bias only. Variant 3 swaps the whole encoder for `BilinearAdapter`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.errors import ModelSettingError

__all__ = ["IAE", "LAST_ACTIVATIONS", "BilinearAdapter", "UpGeometry", "plan_upsampling"]

_MAX_STRIDE = 4
_EXTRA_KERNEL = 3  # kernel in stride .. stride + 3: kernel >= stride leaves no checkerboard holes


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
                # output_padding adds rows past the last kernel tap; padding crops as many rows at each
                # end, so the added rows are reached by a tap only while output_padding <= padding
                for output_padding in range(min(stride - 1, padding) + 1):
                    out = (size_in - 1) * stride - 2 * padding + kernel + output_padding
                    if size_in <= out <= limit:
                        found.append(UpGeometry(size_in, out, stride, kernel, padding, output_padding))
    return found


def plan_upsampling(size_in: int, size_out: int, layers: int = 4) -> tuple[UpGeometry, ...]:
    """Geometries of `layers` transposed convolutions taking `size_in` to exactly `size_out`.

    Minimises the squared deviation of each layer's log growth from an even share (then small
    kernels, padding and output padding), by dynamic programming over the intermediate sizes.

    Raises:
        ModelSettingError: No exact plan exists (patch larger than the image or far too small).
    """
    plan = _best_plan(size_in, size_out, layers)
    if plan is None:
        near = _nearest_plannable(size_in, size_out, layers)
        hint = (
            f"; the nearest patch size{'s' * (len(near) > 1)} that work{'s' * (len(near) == 1)}: "
            f"{' and '.join(map(str, near))}"
            if near
            else ""
        )
        raise ModelSettingError(
            f"cannot upsample a {size_in} x {size_in} patch to {size_out} x {size_out} in {layers} "
            f"transposed convolutions that reach every pixel{hint}"
        )
    return plan[1]


def _nearest_plannable(size_in: int, size_out: int, layers: int) -> list[int]:
    """The closest patch sizes below and above `size_in` that have a plan (for the error message)."""
    below = next((p for p in range(size_in - 1, 2, -1) if _best_plan(p, size_out, layers)), None)
    above = next((p for p in range(size_in + 1, size_out + 1) if _best_plan(p, size_out, layers)), None)
    return [p for p in (below, above) if p is not None]


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
        # small kernels matter most (the first layer's weights are (C + D) x 32 x kernel^2)
        cost += 1e-2 * geo.kernel + 1e-3 * (geo.padding + geo.output_padding) + rest[0]
        if best is None or cost < best[0]:
            best = (cost, (geo, *rest[1]))
    return best


# The IAE's last activation (model setting `iae_last_activation`). The paper ends every layer with
# GELU, which keeps CLIP's input >= -0.17 while CLIP's normalised images span about -1.8 .. 2.1;
# "none" leaves the last layer linear (after its BatchNorm) so that the whole range can be reached.
LAST_ACTIVATIONS = ("gelu", "none")


class _UpBlock(nn.Sequential):
    def __init__(
        self, c_in: int, c_out: int, rows: UpGeometry, cols: UpGeometry, activation: bool = True
    ) -> None:
        conv = nn.ConvTranspose2d(
            c_in,
            c_out,
            kernel_size=(rows.kernel, cols.kernel),
            stride=(rows.stride, cols.stride),
            padding=(rows.padding, cols.padding),
            output_padding=(rows.output_padding, cols.output_padding),
        )
        super().__init__(conv, nn.BatchNorm2d(c_out), nn.GELU() if activation else nn.Identity())


class IAE(nn.Module):
    """4 x (ConvTranspose2d + BatchNorm2d + GELU): (B, in_channels, p, p) -> (B, 3, H, W).

    Args:
        in_channels: C + D.
        patch_size: p.
        image_size: The backbone's (H, W).
        channels: Widths after layers 1..3 (layer 4 gives 3).
        last_activation: "gelu" (the paper) or "none" (see `LAST_ACTIVATIONS`).
    """

    def __init__(
        self,
        in_channels: int,
        patch_size: int,
        image_size: tuple[int, int],
        channels: tuple[int, ...] = (32, 16, 8),
        last_activation: str = "gelu",
    ) -> None:
        super().__init__()
        if last_activation not in LAST_ACTIVATIONS:
            raise ModelSettingError(
                f"last_activation must be one of {LAST_ACTIVATIONS}, not {last_activation!r}"
            )
        rows = plan_upsampling(patch_size, image_size[0])
        cols = plan_upsampling(patch_size, image_size[1])
        widths = [in_channels, *channels, 3]
        last = len(rows) - 1
        self.blocks = nn.Sequential(
            *(
                _UpBlock(widths[i], widths[i + 1], rows[i], cols[i], i < last or last_activation == "gelu")
                for i in range(len(rows))
            )
        )

    def forward(self, f_f: Tensor) -> Tensor:
        """(B, C + D, p, p) -> (B, 3, H, W)."""
        return self.blocks(f_f)


class BilinearAdapter(nn.Module):
    """Variant 3: no parameters. Three channels from fixed band means, then bilinear upsampling.

    The paper replaces the IAE by bilinear interpolation; something must also turn C + D bands into
    3 channels. Channel g is (1 - aux_share) x the mean of the g-th contiguous third of the HSI bands
    plus aux_share x the mean of the D auxiliary bands. Averaging all C + D bands in three groups would
    give each LiDAR/SAR band a weight of about 3 / (C + D) (1/48 for Houston) and so drop most of the
    auxiliary source as well as the encoder; the share keeps both sources, as F_f has them.

    Args:
        hsi_bands: C (the first C channels of F_f).
        aux_bands: D (the last D channels).
        image_size: The backbone's (H, W).
        aux_share: Weight of the auxiliary mean in every channel, in [0, 1].
    """

    def __init__(self, hsi_bands: int, aux_bands: int, image_size: tuple[int, int], aux_share: float = 0.5):
        super().__init__()
        if not 0.0 <= aux_share <= 1.0:
            raise ModelSettingError(f"aux_share must lie in [0, 1], not {aux_share}")
        self.image_size = tuple(image_size)
        mix = torch.zeros(3, hsi_bands + aux_bands)
        for g in range(3):  # thirds of the HSI bands; with fewer than 3 bands they repeat
            first = g * hsi_bands // 3
            last = max((g + 1) * hsi_bands // 3, first + 1)
            mix[g, first:last] = (1.0 - aux_share) / (last - first)
        mix[:, hsi_bands:] = aux_share / aux_bands
        self.register_buffer("mix", mix, persistent=False)

    def forward(self, f_f: Tensor) -> Tensor:
        """(B, C + D, p, p) -> (B, 3, H, W)."""
        rgb = torch.einsum("gc,bchw->bghw", self.mix.to(f_f.dtype), f_f)
        return F.interpolate(rgb, size=self.image_size, mode="bilinear", align_corners=False)
