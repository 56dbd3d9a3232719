"""IAE: exact output size for every patch size, the layer structure, and the variant-3 adapter."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cfipt_cli.errors import CfiptUsageError
from models.iae import IAE, BilinearAdapter, plan_upsampling


@pytest.mark.parametrize("size", [224, 336, 32, 16])
def test_plan_reaches_the_image_size_exactly(size):
    for p in range(5, 16):
        plan = plan_upsampling(p, size)
        assert len(plan) == 4 and plan[0].size_in == p and plan[-1].size_out == size
        for geo in plan:
            out = (geo.size_in - 1) * geo.stride - 2 * geo.padding + geo.kernel + geo.output_padding
            assert out == geo.size_out and geo.kernel >= geo.stride > geo.output_padding


def test_plan_spreads_growth_over_the_layers():
    sizes = [g.size_out for g in plan_upsampling(11, 224)]
    ratios = [b / a for a, b in zip([11, *sizes], sizes, strict=False)]
    assert all(1.7 < r < 2.6 for r in ratios), ratios


def test_impossible_plan_is_a_usage_error():
    with pytest.raises(CfiptUsageError, match="patch size"):
        plan_upsampling(40, 32)


@pytest.mark.parametrize("p", range(5, 16))
def test_iae_output_is_the_backbone_image(p):
    torch.manual_seed(0)
    iae = IAE(7, p, (32, 32), channels=(8, 6, 4))
    out = iae(torch.randn(2, 7, p, p))
    assert out.shape == (2, 3, 32, 32)


def test_iae_layers_and_full_size():
    iae = IAE(145, 11, (224, 224))
    blocks: list[Any] = list(iae.blocks)
    assert len(blocks) == 4
    for block in blocks:
        assert [type(m) for m in block] == [nn.ConvTranspose2d, nn.BatchNorm2d, nn.GELU]
    assert blocks[0][0].in_channels == 145 and blocks[-1][0].out_channels == 3
    assert iae(torch.randn(2, 145, 11, 11)).shape == (2, 3, 224, 224)


def test_non_square_images_are_planned_per_axis():
    assert IAE(4, 9, (32, 48))(torch.randn(2, 4, 9, 9)).shape == (2, 3, 32, 48)


@pytest.mark.parametrize("channels", [2, 3, 8])
def test_bilinear_adapter_has_no_parameters_and_averages_band_groups(channels):
    adapter = BilinearAdapter(channels, (16, 16))
    assert not list(adapter.parameters())
    x = torch.randn(2, channels, 5, 5)
    out = adapter(x)
    assert out.shape == (2, 3, 16, 16)
    if channels == 8:  # groups 0-2, 3-5, 6-7
        groups = torch.stack([x[:, :3].mean(1), x[:, 3:6].mean(1), x[:, 6:].mean(1)], 1)
        expected = F.interpolate(groups, size=(16, 16), mode="bilinear", align_corners=False)
        torch.testing.assert_close(out, expected)
