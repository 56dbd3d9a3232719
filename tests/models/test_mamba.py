"""Tests of the PyTorch Mamba block and its chunked selective scan (CPU, tiny sizes)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import models.mamba as mamba_module
import models.scan as scan_module
from models.fused_kernels import FusedKernels
from models.mamba import Mamba
from models.scan import ScanInputs, selective_scan, selective_scan_bidirectional, selective_scan_reference


def scan_inputs(batch: int, d_inner: int, d_state: int, length: int, seed: int = 0) -> dict[str, Any]:
    """Random scan arguments in mamba-ssm's layout, all requiring gradients."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 1.0) -> Tensor:
        return (torch.randn(*shape, generator=gen) * scale).requires_grad_()

    return {
        "u": rand(batch, d_inner, length),
        "delta": rand(batch, d_inner, length, scale=0.5),
        # strongly and weakly decaying channels, as after training
        "A": (-torch.rand(d_inner, d_state, generator=gen) * 8 - 0.05).requires_grad_(),
        "B": rand(batch, d_state, length),
        "C": rand(batch, d_state, length),
        "D": rand(d_inner),
        "z": rand(batch, d_inner, length),
        "delta_bias": rand(d_inner, scale=0.5),
    }


def expected_state_dict_shapes(
    d_model: int, d_state: int, d_conv: int, expand: float, dt_rank: int, bias: bool
) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of mamba_ssm.modules.mamba_simple.Mamba, written out from its code."""
    d_inner = int(expand * d_model)
    shapes: dict[str, tuple[int, ...]] = {
        "in_proj.weight": (2 * d_inner, d_model),
        "conv1d.weight": (d_inner, 1, d_conv),
        "conv1d.bias": (d_inner,),
        "x_proj.weight": (dt_rank + 2 * d_state, d_inner),
        "dt_proj.weight": (d_inner, dt_rank),
        "dt_proj.bias": (d_inner,),
        "A_log": (d_inner, d_state),
        "D": (d_inner,),
        "out_proj.weight": (d_model, d_inner),
    }
    if bias:
        shapes |= {"in_proj.bias": (2 * d_inner,), "out_proj.bias": (d_model,)}
    return shapes


def mamba_ssm_step_oracle(block: Mamba, x: Tensor) -> Tensor:
    """The block computed token by token as mamba-ssm's `Mamba.step` does (rolling conv state).

    Written independently of models.mamba's forward: a check of the wiring, not only of the scan.
    """
    batch, length, _ = x.shape
    conv_state = x.new_zeros(batch, block.d_inner, block.d_conv)
    ssm_state = x.new_zeros(batch, block.d_inner, block.d_state)
    A = -torch.exp(block.A_log)
    conv_bias = block.conv1d.bias
    assert conv_bias is not None
    outputs = []
    for t in range(length):
        x_t, z_t = block.in_proj(x[:, t]).chunk(2, dim=-1)
        conv_state = torch.cat([conv_state[:, :, 1:], x_t[:, :, None]], dim=-1)
        x_t = (conv_state * block.conv1d.weight[:, 0]).sum(-1) + conv_bias
        x_t = F.silu(x_t)
        dt, B, C = block.x_proj(x_t).split([block.dt_rank, block.d_state, block.d_state], dim=-1)
        dt = F.softplus(block.dt_proj(dt))
        decay = torch.exp(dt[:, :, None] * A)
        ssm_state = decay * ssm_state + (dt * x_t)[:, :, None] * B[:, None, :]
        y = (ssm_state * C[:, None, :]).sum(-1) + block.D * x_t
        outputs.append(block.out_proj(y * F.silu(z_t)))
    return torch.stack(outputs, dim=1)


# --------------------------------------------------------------------------------------------------
# Parameter layout and initialisation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "dt_rank"),
    [
        ({"d_model": 16}, 1),
        ({"d_model": 40, "d_state": 8, "d_conv": 3, "expand": 1.5, "bias": True}, 3),
        ({"d_model": 6, "dt_rank": 2}, 2),
    ],
)
def test_state_dict_layout_matches_mamba_ssm(kwargs: dict, dt_rank: int) -> None:
    block = Mamba(**kwargs)
    full = {"d_state": 16, "d_conv": 4, "expand": 2, "bias": False} | kwargs
    full.pop("dt_rank", None)
    expected = expected_state_dict_shapes(dt_rank=dt_rank, **full)
    got = {name: tuple(t.shape) for name, t in block.state_dict().items()}
    assert got == expected


def test_documented_shapes_for_d_model_16() -> None:
    got = {name: tuple(t.shape) for name, t in Mamba(16).state_dict().items()}
    assert got == {
        "in_proj.weight": (64, 16),
        "conv1d.weight": (32, 1, 4),
        "conv1d.bias": (32,),
        "x_proj.weight": (33, 32),
        "dt_proj.weight": (32, 1),
        "dt_proj.bias": (32,),
        "A_log": (32, 16),
        "D": (32,),
        "out_proj.weight": (16, 32),
    }


def test_initialisation_follows_mamba_ssm() -> None:
    torch.manual_seed(0)
    dt_min, dt_max = 0.002, 0.05
    block = Mamba(32, d_state=8, dt_min=dt_min, dt_max=dt_max)
    expected_a_log = torch.log(torch.arange(1, 9, dtype=torch.float32)).expand(64, 8)
    torch.testing.assert_close(block.A_log.detach(), expected_a_log, rtol=0, atol=0)
    assert torch.equal(block.D.detach(), torch.ones(64))
    step = F.softplus(block.dt_proj.bias.detach())
    assert step.min() >= dt_min * (1 - 1e-4) and step.max() <= dt_max * (1 + 1e-4)
    assert step.std() > 0  # random, not constant
    bound = block.dt_rank**-0.5
    assert block.dt_proj.weight.abs().max() <= bound


def test_a_log_and_d_stay_float32_in_bfloat16_block() -> None:
    block = Mamba(8, dtype=torch.bfloat16)
    assert block.in_proj.weight.dtype == torch.bfloat16
    assert block.A_log.dtype == torch.float32 and block.D.dtype == torch.float32


# --------------------------------------------------------------------------------------------------
# Selective scan: chunked == sequential reference
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "sequential"])
@pytest.mark.parametrize("length", [1, 3, 4, 5, 17, 37])
@pytest.mark.parametrize("gated", [True, False], ids=["z+bias", "plain"])
def test_scan_matches_reference_forward_and_gradients(parallel: bool, length: int, gated: bool) -> None:
    inputs = scan_inputs(batch=2, d_inner=3, d_state=5, length=length, seed=length)
    if not gated:
        inputs["z"] = inputs["delta_bias"] = None
    tensors = {k: v for k, v in inputs.items() if v is not None}
    # chunk 4: lengths 5, 17 and 37 are not multiples of it, 17 and 37 need two levels of recursion
    fast = selective_scan(**inputs, chunk_size=4, parallel=parallel)
    slow = selective_scan_reference(ScanInputs(**inputs))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)

    cotangent = torch.randn(fast.shape, generator=torch.Generator().manual_seed(1))
    grads_fast = torch.autograd.grad(fast, list(tensors.values()), cotangent)
    grads_slow = torch.autograd.grad(slow, list(tensors.values()), cotangent)
    for name, g_fast, g_slow in zip(tensors, grads_fast, grads_slow, strict=True):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-5, atol=1e-5, msg=f"gradient of {name}")
        if not (name == "A" and length == 1):  # from a zero state, step 0 never sees A
            assert g_fast.abs().sum() > 0, f"gradient of {name} is zero"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 8, 64, None])
def test_scan_result_does_not_depend_on_chunk_size(chunk_size: int | None) -> None:
    inputs = scan_inputs(batch=1, d_inner=2, d_state=3, length=29)
    expected = selective_scan_reference(ScanInputs(**inputs))
    for parallel in (True, False):
        got = selective_scan(**inputs, chunk_size=chunk_size, parallel=parallel)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("length", "chunk_size"), [(1, 4), (5, 4), (17, 4), (37, 4), (29, 3), (29, None)])
@pytest.mark.parametrize("gated", [True, False], ids=["z+bias", "plain"])
def test_streaming_scan_without_gradient_matches_reference(
    length: int, chunk_size: int | None, gated: bool
) -> None:
    """No gradient needed: the streaming solver (one or two passes plus chunk recursion) is used."""
    inputs = scan_inputs(batch=2, d_inner=3, d_state=5, length=length, seed=length)
    if not gated:
        inputs["z"] = inputs["delta_bias"] = None
    with torch.no_grad():
        expected = selective_scan_reference(ScanInputs(**inputs))
        got = selective_scan(**inputs, chunk_size=chunk_size, parallel=False)
    # the same inputs without requires_grad, grad mode on: the streaming path as well
    detached: dict[str, Any] = {k: None if v is None else v.detach() for k, v in inputs.items()}
    again = selective_scan(**detached, chunk_size=chunk_size, parallel=False)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, expected, rtol=1e-5, atol=1e-5)
    assert not got.requires_grad and not again.requires_grad


def test_streaming_scan_is_used_only_without_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    streaming = scan_module.selective_scan_streaming

    def spy(*args: Any, **kwargs: Any) -> Tensor:
        calls.append("stream")
        return streaming(*args, **kwargs)

    monkeypatch.setattr(scan_module, "selective_scan_streaming", spy)
    inputs = scan_inputs(batch=1, d_inner=2, d_state=3, length=9)
    out = selective_scan(**inputs, parallel=False)  # inputs require grad: autograd path
    assert out.requires_grad and calls == []
    with torch.inference_mode():
        selective_scan(**inputs, parallel=False)
        selective_scan(**inputs, parallel=True)  # the parallel solver is kept as asked
    assert calls == ["stream"]


def test_streaming_scan_stays_finite_under_extreme_decay() -> None:
    inputs = scan_inputs(batch=1, d_inner=2, d_state=3, length=20)
    with torch.no_grad():
        inputs["A"].mul_(1000.0)
        inputs["delta"].add_(5.0)
        fast = selective_scan(**inputs, chunk_size=8, parallel=False)
        slow = selective_scan_reference(ScanInputs(**inputs))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_scan_without_softplus_and_skip() -> None:
    inputs = scan_inputs(batch=2, d_inner=3, d_state=4, length=11)
    inputs["delta"] = F.softplus(inputs["delta"].detach())  # positive steps given directly
    inputs["D"] = None
    fast = selective_scan(**inputs, delta_softplus=False, chunk_size=4)
    slow = selective_scan_reference(ScanInputs(**inputs, delta_softplus=False))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "sequential"])
def test_scan_stays_finite_under_extreme_decay(parallel: bool) -> None:
    """Decays of exp(-1e4) per step: a naive exp(-cumsum) form overflows, the masked form must not."""
    inputs = scan_inputs(batch=1, d_inner=2, d_state=3, length=20)
    with torch.no_grad():
        inputs["A"].mul_(1000.0)  # delta * A down to about -1e4
        inputs["delta"].add_(5.0)
    fast = selective_scan(**inputs, chunk_size=8, parallel=parallel)
    slow = selective_scan_reference(ScanInputs(**inputs))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(fast.square().sum(), [v for v in inputs.values() if v is not None])
    assert all(torch.isfinite(g).all() for g in grads)


def test_scan_bfloat16_runs_in_float32_and_returns_bfloat16() -> None:
    inputs = scan_inputs(batch=2, d_inner=4, d_state=4, length=13)
    low = {
        k: (v.detach().bfloat16() if k in ("u", "delta", "B", "C", "z") else v.detach())
        for k, v in inputs.items()
    }
    out = selective_scan(**low, chunk_size=4)
    assert out.dtype == torch.bfloat16
    # the same bfloat16 values computed in float32 by the reference: only the final rounding differs
    ref = selective_scan_reference(ScanInputs(**{k: v.float() for k, v in low.items()}))
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)


# --------------------------------------------------------------------------------------------------
# Mamba block
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d_model", "length"), [(8, 1), (8, 3), (6, 29), (20, 12)])
def test_block_matches_token_by_token_oracle(d_model: int, length: int) -> None:
    torch.manual_seed(d_model + length)
    block = Mamba(d_model, d_state=4, chunk_size=4)
    x = torch.randn(2, length, d_model)
    with torch.no_grad():
        torch.testing.assert_close(block(x), mamba_ssm_step_oracle(block, x), rtol=1e-5, atol=1e-5)


def test_block_forward_equals_forward_on_reference_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    block = Mamba(12, d_state=6, chunk_size=4)
    x = torch.randn(3, 21, 12, requires_grad=True)
    fast = block(x)
    grad_fast = torch.autograd.grad(fast.square().sum(), [x, *block.parameters()])

    def reference(*args: Any, chunk_size: int, **kwargs: Any) -> Tensor:
        return selective_scan_reference(ScanInputs(*args, **kwargs))

    monkeypatch.setattr(mamba_module, "selective_scan", reference)
    slow = block(x)
    grad_slow = torch.autograd.grad(slow.square().sum(), [x, *block.parameters()])
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for g_fast, g_slow in zip(grad_fast, grad_slow, strict=True):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-5, atol=1e-5)


def test_block_is_causal() -> None:
    torch.manual_seed(0)
    block = Mamba(8, d_state=4, chunk_size=4)
    x = torch.randn(2, 15, 8)
    changed = x.clone()
    changed[:, 9] += 1.0
    with torch.no_grad():
        before, after = block(x), block(changed)
    assert torch.equal(before[:, :9], after[:, :9])
    assert not torch.allclose(before[:, 9:], after[:, 9:])


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    block = Mamba(8, d_state=4, bias=True)
    block(torch.randn(2, 10, 8)).square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_state_dict_round_trip_gives_identical_outputs() -> None:
    torch.manual_seed(0)
    source = Mamba(10, d_state=4, bias=True)
    torch.manual_seed(1)
    target = Mamba(10, d_state=4, bias=True)
    x = torch.randn(2, 9, 10)
    with torch.no_grad():
        assert not torch.equal(source(x), target(x))
        target.load_state_dict(source.state_dict())
        assert torch.equal(source(x), target(x))


@pytest.mark.parametrize(("d_model", "length"), [(6, 768), (768, 6), (4, 1)])
def test_project_shapes(d_model: int, length: int) -> None:
    """Both prompt orientations of this project: few wide channels, or wide tokens on a short axis."""
    block = Mamba(d_model)
    with torch.no_grad():
        out = block(torch.randn(2, length, d_model))
    assert out.shape == (2, length, d_model)
    assert torch.isfinite(out).all()


def test_bfloat16_block_close_to_float32() -> None:
    torch.manual_seed(0)
    block = Mamba(16, d_state=8)
    x = torch.randn(2, 24, 16)
    with torch.no_grad():
        full = block(x)
        half = block.to(torch.bfloat16)(x.bfloat16())
    assert half.dtype == torch.bfloat16
    scale = full.abs().max()
    assert (half.float() - full).abs().max() <= 0.05 * scale


def test_fused_kernels_never_used_for_cpu_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even where mamba-ssm imports, CPU inputs take the PyTorch path (its kernels are CUDA-only)."""

    def cuda_only(*args: object, **kwargs: object) -> Tensor:
        raise AssertionError("fused kernel called for a CPU tensor")

    kernels = FusedKernels({"mamba_inner_fn": cuda_only, "selective_scan_fn": cuda_only}, None)
    monkeypatch.setattr(mamba_module, "KERNELS", kernels)
    block = Mamba(8, d_state=4)
    out = block(torch.randn(1, 5, 8))
    assert out.shape == (1, 5, 8)


def test_dt_rank_auto_is_ceil_of_d_model_over_16() -> None:
    for d_model in (6, 16, 17, 768):
        assert Mamba(d_model, d_state=2).dt_rank == math.ceil(d_model / 16)


def _two_reference_scans(args: dict[str, Any]) -> Tensor:
    """y(u) + flip(y(flip(u))) by the sequential recurrence, without the gate."""
    forward = selective_scan_reference(ScanInputs(**{k: v for k, v in args.items() if k != "z"}))
    flipped = {k: (v.flip(-1) if k in ("u", "delta", "B", "C") else v) for k, v in args.items() if k != "z"}
    return forward + selective_scan_reference(ScanInputs(**flipped)).flip(-1)


@pytest.mark.parametrize(
    ("length", "chunk_size", "grad"),
    [(13, 16, False), (16, 16, False), (40, 16, False), (13, 16, True)],
    ids=["streaming", "streaming-full-chunk", "longer-than-a-chunk", "autograd"],
)
def test_bidirectional_scan_equals_two_sequential_scans(length, chunk_size, grad):
    args = scan_inputs(3, 4, 5, length, seed=7)
    no_gate = {k: v for k, v in args.items() if k != "z"}
    expected = _two_reference_scans(args)
    with torch.set_grad_enabled(grad):
        got = selective_scan_bidirectional(ScanInputs(**no_gate), chunk_size=chunk_size, parallel=False)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    if grad:
        names = ["u", "delta", "A", "B", "C", "D", "delta_bias"]
        want = torch.autograd.grad(expected.sum(), [args[n] for n in names])
        have = torch.autograd.grad(got.sum(), [args[n] for n in names])
        for name, g, w in zip(names, have, want, strict=True):
            torch.testing.assert_close(g, w, atol=1e-4, rtol=1e-4, msg=name)


@pytest.mark.parametrize("length", [13, 40], ids=["streaming", "stacked"])
def test_bidirectional_scan_gates_each_direction_by_z(length):
    """A gate z flips with the other sequences: both directions are gated by z at their own position."""
    args = scan_inputs(3, 4, 5, length, seed=7)
    flipped = {k: (v.flip(-1) if k in ("u", "delta", "B", "C", "z") else v) for k, v in args.items()}
    with torch.no_grad():
        forward = selective_scan_reference(ScanInputs(**args))
        expected = forward + selective_scan_reference(ScanInputs(**flipped)).flip(-1)
        got = selective_scan_bidirectional(ScanInputs(**args), chunk_size=16, parallel=False)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_bidirectional_block_scan_equals_the_two_stacked_directions():
    torch.manual_seed(3)
    block = Mamba(6, d_state=4, expand=2).eval()
    x = torch.randn(5, block.d_inner, 11)
    with torch.no_grad():
        forward, backward = block.ssm(torch.cat([x, x.flip(-1)])).chunk(2)
        torch.testing.assert_close(block.ssm_bidirectional(x), forward + backward.flip(-1), atol=1e-5, rtol=0)
