"""IAE: exact output size for every patch size, the layer structure, and the variant-3 adapter."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.errors import ModelSettingError
from models.iae import IAE, BilinearAdapter, plan_upsampling


@pytest.mark.parametrize("size", [224, 336, 32, 16])
def test_plan_reaches_the_image_size_exactly(size):
    for p in range(5, 16):
        plan = plan_upsampling(p, size)
        assert len(plan) == 4 and plan[0].size_in == p and plan[-1].size_out == size
        for geo in plan:
            out = (geo.size_in - 1) * geo.stride - 2 * geo.padding + geo.kernel + geo.output_padding
            assert out == geo.size_out and geo.kernel >= geo.stride > geo.output_padding


@pytest.mark.parametrize("p", [5, 7, 9, 11, 13, 15])
def test_plan_spreads_growth_over_the_layers(p):
    # 224 / 11 = 20x in 4 layers: no layer takes more than about 3x (even would be 2.1x each)
    sizes = [g.size_out for g in plan_upsampling(p, 224)]
    ratios = [b / a for a, b in zip([p, *sizes], sizes, strict=False)]
    assert all(1.0 < r <= 3.1 for r in ratios), ratios


def test_impossible_plan_is_a_usage_error():
    with pytest.raises(ModelSettingError, match="patch size"):
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


@pytest.mark.parametrize("hsi_bands", [1, 2, 3, 8])
def test_bilinear_adapter_has_no_parameters_and_averages_band_groups(hsi_bands):
    adapter = BilinearAdapter(hsi_bands, 2, (16, 16), aux_share=0.25)
    assert not list(adapter.parameters())
    x = torch.randn(2, hsi_bands + 2, 5, 5)
    out = adapter(x)
    assert out.shape == (2, 3, 16, 16)
    torch.testing.assert_close(adapter.mix.sum(1), torch.ones(3))  # a weighted mean in every channel
    # every channel gives the auxiliary source its share, whatever the number of HSI bands
    torch.testing.assert_close(adapter.mix[:, hsi_bands:].sum(1), torch.full((3,), 0.25))
    if hsi_bands == 8:  # thirds 0-1, 2-4, 5-7
        hsi = torch.stack([x[:, :2].mean(1), x[:, 2:5].mean(1), x[:, 5:8].mean(1)], 1)
        mixed = 0.75 * hsi + 0.25 * x[:, 8:].mean(1, keepdim=True)
        expected = F.interpolate(mixed, size=(16, 16), mode="bilinear", align_corners=False)
        torch.testing.assert_close(out, expected)
