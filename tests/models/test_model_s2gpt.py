"""S2GPT (Mamba and Transformer forms), S2PtTrans guidance, V-TPI composition."""

from __future__ import annotations

import torch
from cfipt_model_helpers import with_interaction
from torch import nn

from models.mamba import Mamba
from models.s2gpt import LowRankCarrier, NoInteraction, S2GPTMamba, S2GPTSizes, S2GPTTransformer, S2PtTrans
from models.vtpi import VTPI, DeepPrompts, NoPrompts

L, N, W_SRC, W_DST, HW, C, B = 3, 4, 20, 12, 9, 5, 2


def guidance(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    p_sp = torch.softmax(torch.randn(B, C, C, generator=gen), -1)
    p_sa = torch.softmax(torch.randn(B, HW, HW, generator=gen), -1)
    return p_sp, p_sa


def test_s2pttrans_guides_each_half_by_its_matrix():
    torch.manual_seed(0)
    s2pt = S2PtTrans(W_SRC, HW, C)
    x = torch.randn(L, 6, W_SRC)
    p_sp, p_sa = guidance()
    out = s2pt(x, p_sp, p_sa)
    assert out.shape == (B, L, 6, W_SRC)
    for b in range(B):
        spatial = s2pt.from_spatial((p_sa[b] @ s2pt.to_spatial(x[:, :3]).transpose(1, 2)).transpose(1, 2))
        spectral = s2pt.from_spectral(s2pt.to_spectral(x[:, 3:]) @ p_sp[b])
        torch.testing.assert_close(out[b], torch.cat([spatial, spectral], 1))


def test_s2gpt_mamba_shapes_names_and_guidance():
    torch.manual_seed(0)
    block = S2GPTMamba(S2GPTSizes(N, W_SRC, W_DST, HW, C, carrier_rank=6), d_state=4)
    assert isinstance(block.mamba, Mamba) and block.mamba.d_model == N  # the scan runs along the width
    names = {k.split(".")[1] for k in block.state_dict() if k.startswith("mamba.")}
    assert names == {"in_proj", "conv1d", "x_proj", "dt_proj", "A_log", "D", "out_proj"}
    assert isinstance(block.carrier, LowRankCarrier)
    prompts = torch.randn(L, N, W_SRC)
    p_sp, p_sa = guidance()
    assert not block(prompts, p_sp, p_sa).any()  # zero at initialisation: the prompts start unchanged
    with_interaction(block)
    out = block(prompts, p_sp, p_sa)
    assert out.shape == (B, L, N, W_DST)
    assert not torch.allclose(out[0], out[1])  # per-sample guidance
    other_sp, other_sa = guidance(seed=1)
    assert not torch.allclose(block(prompts, other_sp, p_sa), out)
    assert not torch.allclose(block(prompts, p_sp, other_sa), out)


def test_scan_runs_both_ways_along_the_channels():
    torch.manual_seed(0)
    block = S2GPTMamba(S2GPTSizes(N, W_SRC, W_SRC, HW, C), d_state=4)
    assert isinstance(block.carrier, nn.Identity)  # same width: nothing to carry
    x = torch.randn(2, block.mamba.d_inner, W_SRC)
    y = block.mamba.ssm_bidirectional(x)
    x_late = x.clone()
    x_late[..., -1] += 1.0
    # a change at the last channel reaches the first one only through the reversed scan
    assert not torch.allclose(block.mamba.ssm_bidirectional(x_late)[..., 0], y[..., 0])
    forward_only = block.mamba.ssm(x_late)[..., 0]
    torch.testing.assert_close(forward_only, block.mamba.ssm(x)[..., 0])


def test_s2gpt_transformer_has_the_same_interface_and_no_mamba():
    torch.manual_seed(0)
    block = S2GPTTransformer(S2GPTSizes(N, W_SRC, W_DST, HW, C), heads=2)
    assert not any(isinstance(m, Mamba) for m in block.modules())
    assert any(isinstance(m, nn.TransformerEncoderLayer) for m in block.modules())
    p_sp, p_sa = guidance()
    assert block(torch.randn(L, N, W_SRC), p_sp, p_sa).shape == (B, L, N, W_DST)


def test_vtpi_adds_the_other_branch_carried_prompt():
    torch.manual_seed(0)
    vision, text = DeepPrompts(L, N, W_SRC), DeepPrompts(L, N, W_DST)
    t2v = S2GPTMamba(S2GPTSizes(N, W_DST, W_SRC, HW, C), d_state=4)
    v2t = S2GPTMamba(S2GPTSizes(N, W_SRC, W_DST, HW, C), d_state=4)
    vtpi = VTPI(vision, text, t2v, v2t)
    p_sp, p_sa = guidance()
    p_vt, p_tv = vtpi(p_sp, p_sa)
    assert p_vt is not None and p_tv is not None
    torch.testing.assert_close(p_vt, vision.prompts + t2v(text.prompts, p_sp, p_sa))
    torch.testing.assert_close(p_tv, text.prompts + v2t(vision.prompts, p_sp, p_sa))


def test_vtpi_without_interaction_or_branch():
    p_sp, p_sa = guidance()
    vision = DeepPrompts(L, N, W_SRC)
    p_vt, p_tv = VTPI(vision, NoPrompts(), NoInteraction(), NoInteraction())(p_sp, p_sa)
    assert p_tv is None and torch.equal(p_vt, vision.prompts)  # shared by the batch: no batch axis


def test_first_text_prompt_layer_takes_the_template_embedding():
    init = torch.randn(N, W_DST)
    prompts = DeepPrompts(L, N, W_DST, first_layer=init)
    assert torch.equal(prompts.prompts[0], init) and prompts.prompts[1:].std() < 0.05


def test_batched_bidirectional_scan_equals_two_separate_scans():
    torch.manual_seed(0)
    block = S2GPTMamba(S2GPTSizes(N, W_SRC, W_SRC, HW, C), d_state=4)
    x = torch.randn(3, block.mamba.d_inner, W_SRC, requires_grad=True)
    expected = block.mamba.ssm(x) + block.mamba.ssm(x.flip(-1)).flip(-1)
    got = block.mamba.ssm_bidirectional(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    grad_got = torch.autograd.grad(got.square().sum(), [x, block.mamba.A_log])
    grad_expected = torch.autograd.grad(expected.square().sum(), [x, block.mamba.A_log])
    for g_got, g_expected in zip(grad_got, grad_expected, strict=True):
        torch.testing.assert_close(g_got, g_expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # the streaming (no-gradient) scan gives the same
        torch.testing.assert_close(block.mamba.ssm_bidirectional(x), expected, rtol=1e-5, atol=1e-5)
