"""MFPG: the IS2PG formulas of the spec, AMFF, and the parts swapped by variants 1 and 2."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from models.mfpg import AMFF, MFPG, ConcatFusion, OnesMatrix, ResidualFusion


def inputs(batch: int = 2, c: int = 6, d: int = 2, p: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, c, p, p, generator=gen), torch.randn(batch, d, p, p, generator=gen)


def test_shapes_and_row_stochastic_prompt_matrices():
    torch.manual_seed(0)
    hsi, aux = inputs()
    fused, p_sp, p_sa = MFPG(6, 2, attn_dim=8)(hsi, aux)
    assert fused.shape == (2, 8, 5, 5) and p_sp.shape == (2, 6, 6) and p_sa.shape == (2, 25, 25)
    torch.testing.assert_close(p_sp.sum(-1), torch.ones(2, 6))
    torch.testing.assert_close(p_sa.sum(-1), torch.ones(2, 25))


def test_is2pg_matches_the_written_formulas():
    torch.manual_seed(0)
    hsi, aux = inputs()
    mfpg = MFPG(6, 2, attn_dim=8)
    mfpg.amff = nn.Identity()  # look at F_m itself
    fused, p_sp, p_sa = mfpg(hsi, aux)
    x_h, x_l = hsi.flatten(2).transpose(1, 2), aux.flatten(2).transpose(1, 2)  # (B, HW, C), (B, HW, D)
    spectral: Any = mfpg.spectral
    spatial: Any = mfpg.spatial
    fusion: Any = mfpg.fusion
    q, k = spectral.query(x_l), spectral.key(x_h)
    torch.testing.assert_close(p_sp, torch.softmax(q.transpose(1, 2) @ k / math.sqrt(25), -1))
    q2, k2 = spatial.query(x_h), spatial.key(x_l)
    torch.testing.assert_close(p_sa, torch.softmax(q2 @ k2.transpose(1, 2) / math.sqrt(8), -1))
    v = fusion.value(torch.cat([x_h, x_l], -1))
    f_h, f_l = x_h + v[..., :6] @ p_sp, x_l + p_sa @ v[..., 6:]
    expected = torch.cat([f_h, f_l], -1).transpose(1, 2).reshape(2, 8, 5, 5)
    torch.testing.assert_close(fused, expected)


def test_amff_is_recalibration_plus_three_scales_plus_residual():
    torch.manual_seed(0)
    amff = AMFF(8, reduction=2, width=3)
    f_m = torch.randn(2, 8, 5, 5)
    z = amff.attention(f_m.mean((2, 3))) + amff.attention(f_m.amax((2, 3)))
    reduced = amff.reduce(f_m * torch.sigmoid(z)[:, :, None, None])
    expected = f_m + sum(conv(reduced) for conv in amff.branches)
    torch.testing.assert_close(amff(f_m), expected)
    assert [b.kernel_size for b in amff.branches] == [(1, 1), (3, 3), (5, 5)]


def test_variant_1_uses_uniform_all_ones_matrices():
    hsi, aux = inputs()
    mfpg = MFPG(6, 2, ones_matrices=True)
    assert isinstance(mfpg.spectral, OnesMatrix) and isinstance(mfpg.spatial, OnesMatrix)
    _, p_sp, p_sa = mfpg(hsi, aux)
    # all-ones normalised like the softmax rows they replace: uniform attention
    torch.testing.assert_close(p_sp, torch.full((2, 6, 6), 1 / 6))
    torch.testing.assert_close(p_sa, torch.full((2, 25, 25), 1 / 25))
    assert isinstance(mfpg.fusion, ResidualFusion)  # the fusion itself stays


def test_variant_1_keeps_the_scale_of_the_fused_features():
    """Removing the guidance must not also rescale F_f (unnormalised ones gave 7x the std)."""
    gen = torch.Generator().manual_seed(0)
    hsi, aux = torch.randn(32, 48, 7, 7, generator=gen), torch.randn(32, 1, 7, 7, generator=gen)
    stds = []
    for ones in (False, True):
        torch.manual_seed(0)
        with torch.no_grad():
            stds.append(float(MFPG(48, 1, ones_matrices=ones).eval()(hsi, aux)[0].std()))
    assert 0.8 < stds[1] / stds[0] < 1.25, stds


def test_variant_2_is_plain_concatenation():
    hsi, aux = inputs()
    mfpg = MFPG(6, 2, concat_only=True)
    assert isinstance(mfpg.fusion, ConcatFusion) and isinstance(mfpg.amff, nn.Identity)
    fused, p_sp, _ = mfpg(hsi, aux)
    assert torch.equal(fused, torch.cat([hsi, aux], 1))
    assert not torch.equal(p_sp, torch.ones_like(p_sp))  # prompt matrices still guide S2GPT


def test_low_rank_prompt_matrices_equal_the_formulas_with_gradients():
    # Both matrices are computed in a rank-(D + 1) order; values and gradients must be those of the
    # formulas as written (float64, so that only a wrong formula could show a difference).
    torch.manual_seed(0)
    hsi, aux = (t.double() for t in inputs(c=9, d=3, p=5))
    mfpg = MFPG(9, 3, attn_dim=8).double()
    x_h, x_l = hsi.flatten(2).transpose(1, 2), aux.flatten(2).transpose(1, 2)
    spectral: Any = mfpg.spectral
    spatial: Any = mfpg.spatial
    weights = torch.randn(2, 9, 9, dtype=torch.float64), torch.randn(2, 25, 25, dtype=torch.float64)

    def loss(p_sp: torch.Tensor, p_sa: torch.Tensor) -> torch.Tensor:
        return (p_sp * weights[0]).sum() + (p_sa * weights[1]).sum()

    params = [spectral.query.weight, spectral.key.bias, spatial.query.weight, spatial.key.weight]
    fast = loss(spectral(x_h, x_l), spatial(x_h, x_l))
    q, k = spectral.query(x_l), spectral.key(x_h)
    q2, k2 = spatial.query(x_h), spatial.key(x_l)
    written = loss(
        torch.softmax(q.transpose(1, 2) @ k / math.sqrt(25), -1),
        torch.softmax(q2 @ k2.transpose(1, 2) / math.sqrt(8), -1),
    )
    torch.testing.assert_close(fast, written, atol=1e-12, rtol=0)
    for got, want in zip(
        torch.autograd.grad(fast, params), torch.autograd.grad(written, params), strict=True
    ):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
