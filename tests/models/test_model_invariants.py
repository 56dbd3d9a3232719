"""What the method promises, not only shapes: the invariants of the network (issue 10).

- every pixel of the image CLIP sees depends on the input patch (no bias-only border from the IAE);
- the prompts start where the method puts them (S2GPT adds exactly zero at initialisation);
- under bf16 autocast the logits, probabilities, losses, prompt matrices and the scan stay float32,
  and the predictions agree with float32;
- a mamba-ssm without a usable kernel falls back to the PyTorch scan with one warning.
"""

from __future__ import annotations

import sys
import types
import warnings

import pytest
import torch
from cfipt_model_helpers import build, patches
from torch import nn

from models import CFIPT, CFIPTConfig, RandomBackboneWarning, cfipt_loss, fused_kernels, scan
from models import mamba as mamba_module
from models.errors import ModelSettingError
from models.fused_kernels import FusedKernels, FusedKernelWarning
from models.iae import IAE, plan_upsampling
from models.mamba import Mamba
from models.mfpg import SpatialPromptMatrix, SpectralPromptMatrix
from models.scan import ScanInputs, selective_scan, selective_scan_reference

IMAGE_SIZES = (32, 64, 96, 128, 160, 192, 224, 240, 256, 288, 320, 336, 384, 448, 512)
PATCH_SIZES = range(3, 28)


def _supported() -> list[tuple[int, int]]:
    pairs = []
    for size in IMAGE_SIZES:
        for p in PATCH_SIZES:
            try:
                plan_upsampling(p, size)
            except ModelSettingError:
                continue
            pairs.append((p, size))
    return pairs


# ------------------------------------------------------------------------------------------ IAE


@torch.no_grad()
def _reached(iae: IAE, p: int) -> torch.Tensor:
    """Which output pixels any input pixel reaches: all weights 1, biases 0, BatchNorm the identity.

    With positive weights nothing cancels, so an output pixel is > 0 exactly when some chain of kernel
    taps links it to the input (GELU keeps positive values positive).
    """
    for module in iae.modules():
        if isinstance(module, nn.ConvTranspose2d):
            module.weight.fill_(1.0)
            module.bias.zero_()
    iae.eval()  # fresh BatchNorm statistics (mean 0, var 1): the identity up to eps
    return iae(torch.ones(1, iae.blocks[0][0].in_channels, p, p))[0, 0] > 0


def test_supported_sizes_cover_the_patch_sizes_of_the_paper():
    supported = set(_supported())
    assert all((p, 224) in supported for p in PATCH_SIZES)  # ViT-B/16: 3..27 all plannable
    assert all((p, size) in supported for p in range(5, 16) for size in IMAGE_SIZES)


def test_every_image_pixel_is_reached_by_the_input_for_every_supported_size():
    dead = []
    for p, size in _supported():
        reached = _reached(IAE(1, p, (size, size), channels=(1, 1, 1)), p)
        if not reached.all():
            dead.append((p, size, int((~reached).sum())))
    assert not dead, dead[:10]


@pytest.mark.parametrize("p", [7, 9, 11])
def test_every_image_pixel_changes_when_the_input_changes(p):
    """The defect as a user meets it: with trained-like random weights, ViT-B/16's 224 x 224 input."""
    torch.manual_seed(p)
    iae = IAE(5, p, (224, 224)).eval()
    x = torch.randn(2, 5, p, p)
    with torch.no_grad():
        changed = (iae(x) - iae(x + torch.randn_like(x))).abs().amax(dim=(0, 1)) > 0
    assert changed.all(), f"{int((~changed).sum())} of {changed.numel()} pixels are bias only"


def test_non_square_images_are_reached_too():
    assert _reached(IAE(1, 9, (160, 224), channels=(1, 1, 1)), 9).all()


def test_last_activation_setting_opens_the_range_of_clips_input():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 7, 7) * 3
    with torch.no_grad():  # training mode: BatchNorm makes every channel ~N(0, 1) before the activation
        gelu = IAE(5, 7, (32, 32), last_activation="gelu").train()(x)
        linear = IAE(5, 7, (32, 32), last_activation="none").train()(x)
    assert gelu.min() >= -0.17 and linear.min() < -1.0  # GELU's floor is about -0.17
    assert isinstance(IAE(5, 7, (32, 32), last_activation="none").blocks[-1][2], nn.Identity)
    with pytest.raises(ModelSettingError, match="iae_last_activation"):
        build(iae_last_activation="relu")


# -------------------------------------------------------------------------------------- prompts


@pytest.mark.parametrize("variant", ["full", "1", "2", "3", "4d"])
def test_prompts_start_where_the_method_puts_them(variant):
    """At initialisation P_VT = P_V, P_TV = P_T (1e-6), and P_T's first layer is the template."""
    model = build(seed=3, variant=variant, n_prompt=6)  # n = the template's 6 tokens, as by default
    hsi, aux = patches(batch=4)
    with torch.no_grad():
        _, p_sp, p_sa = model.mfpg(hsi, aux)
        p_vt, p_tv = model.vtpi(p_sp, p_sa)
        p_v, p_t = model.vtpi.vision(), model.vtpi.text()
    torch.testing.assert_close(p_vt, p_v.expand_as(p_vt), atol=1e-6, rtol=0)
    torch.testing.assert_close(p_tv, p_t.expand_as(p_tv), atol=1e-6, rtol=0)
    template = model.backbone.template_embedding()
    assert template is not None
    torch.testing.assert_close(p_tv[:, 0], template.expand(4, -1, -1), atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- mixed precision


def _trained_micro() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A micro model trained for 40 steps on three separable classes, and a seeded test batch.

    An untrained random CLIP maps every input to nearly the same features (one class for all); after
    a little training the batch spreads over the classes with margins from near 0 upwards.
    """
    model = build(seed=0).train()
    gen = torch.Generator().manual_seed(5)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 3, (n,), generator=gen)
        hsi = torch.randn(n, 5, 5, 5, generator=gen) + (y.float() - 1)[:, None, None, None] * 0.7
        return hsi, torch.randn(n, 2, 5, 5, generator=gen), y

    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    for _ in range(40):
        hsi, aux, y = batch(48)
        optimiser.zero_grad()
        cfipt_loss(model(hsi, aux), y)[0].backward()
        optimiser.step()
    hsi, aux, _ = batch(2000)
    return model.eval(), hsi, aux


@pytest.fixture(scope="module")
def trained_micro() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _trained_micro()
    finally:
        torch.set_num_threads(threads)


def test_bf16_autocast_keeps_logits_probabilities_and_losses_float32(trained_micro):
    model, hsi, aux = trained_micro
    targets = torch.arange(hsi.shape[0]) % 3
    with torch.no_grad():
        reference = model(hsi, aux)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(hsi, aux)
            probabilities = torch.softmax(out.logits, dim=1)
            total, parts = cfipt_loss(out, targets)
    assert out.logits.dtype == probabilities.dtype == torch.float32
    assert out.image_features.dtype == out.text_features.dtype == torch.float32
    assert total.dtype == parts["crc"].dtype == parts["trd"].dtype == torch.float32
    # the logits are the float32 product of the features, not a bf16 one rounded to steps of 0.5
    cosine = torch.einsum("be,bke->bk", out.image_features, out.text_features)
    scale = model.backbone.clip.logit_scale.exp()
    torch.testing.assert_close(out.logits, scale * cosine, atol=1e-5, rtol=1e-6)
    predicted = reference.logits.argmax(1)
    assert len(predicted.unique()) == 3  # a batch with real decisions to get right
    agreement = (out.logits.argmax(1) == predicted).float().mean()
    assert agreement >= 0.999, float(agreement)


@pytest.mark.parametrize("text_precision", ["float32", "autocast"])
def test_bf16_argmax_agrees_even_for_an_untrained_model(text_precision):
    """The hardest case: random weights, all class texts nearly alike (margins ~0.04 at logit scale 100).

    With the text tower in bf16 the rounding in the tower is as large as the differences between the
    class texts and flips nearly every pixel; in float32 (the default) the argmax agrees.
    """
    names = ["grass", "tree", "road", "water", "roof", "soil", "rail", "park"]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        config = CFIPTConfig(
            hsi_bands=16,
            aux_bands=2,
            patch_size=7,
            class_names=names,
            clip_model="cfipt-tiny",
            pretrained=None,
            text_precision=text_precision,
        )
        model = CFIPT(config).eval()
    with torch.no_grad():
        model.backbone.clip.logit_scale.fill_(torch.log(torch.tensor(100.0)))
        hsi, aux = patches(1000, seed=2, hsi=16, p=7)
        reference = model(hsi, aux).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(hsi, aux).logits
    agreement = float((mixed.argmax(1) == reference.argmax(1)).float().mean())
    if text_precision == "float32":
        assert agreement >= 0.999, agreement
    else:  # the test separates: the same batch with a bf16 text tower
        assert agreement < 0.999, agreement


def test_prompt_matrices_are_float32_under_autocast():
    torch.manual_seed(0)
    x_h, x_l = torch.randn(4, 49, 48), torch.randn(4, 49, 1)
    for module in (SpectralPromptMatrix(48, 1), SpatialPromptMatrix(48, 1, 64)):
        exact = module(x_h, x_l)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = module(x_h.bfloat16(), x_l.bfloat16())  # even bf16 activations coming in
        assert mixed.dtype == torch.float32
        torch.testing.assert_close(mixed, module(x_h.bfloat16().float(), x_l.bfloat16().float()))
        assert (mixed - exact).abs().max() < 0.02 * exact.max()


@pytest.mark.parametrize("grad", [False, True])
def test_selective_scan_computes_in_float32_under_autocast(grad):
    gen = torch.Generator().manual_seed(0)
    batch, d_inner, d_state, length = 3, 6, 4, 70
    args = {
        "u": torch.randn(batch, d_inner, length, generator=gen, requires_grad=grad),
        "delta": torch.randn(batch, d_inner, length, generator=gen),
        "A": -torch.rand(d_inner, d_state, generator=gen) - 0.5,
        "B": torch.randn(batch, d_state, length, generator=gen),
        "C": torch.randn(batch, d_state, length, generator=gen),
        "D": torch.randn(d_inner, generator=gen),
        "delta_bias": torch.randn(d_inner, generator=gen),
    }
    expected = selective_scan_reference(ScanInputs(**args))
    for parallel in (True, False):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = selective_scan(**args, parallel=parallel)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


# -------------------------------------------------------------------------- fused kernels


def test_mamba_ssm_without_its_compiled_kernel_is_not_offered():
    """mamba-ssm 2.x may import with its extension missing (guarded import): not usable, one warning."""
    interface = types.SimpleNamespace(
        selective_scan_fn=lambda *a, **k: None, mamba_inner_fn=lambda *a, **k: None, selective_scan_cuda=None
    )
    kernels = FusedKernels.from_interface(interface)
    assert kernels.problem is not None and "selective_scan_cuda" in kernels.problem
    assert kernels.get("selective_scan_fn", "cpu") is None  # CPU: never a kernel, no warning
    with pytest.warns(FusedKernelWarning, match="PyTorch selective scan"):
        assert kernels.get("selective_scan_fn", "cuda") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.get("selective_scan_fn", "cuda") is None  # warned once only


def test_mamba_ssm_with_both_extensions_offers_both_kernels():
    interface = types.SimpleNamespace(
        selective_scan_fn=len, mamba_inner_fn=abs, selective_scan_cuda=object(), causal_conv1d_cuda=object()
    )
    kernels = FusedKernels.from_interface(interface)
    assert kernels.problem is None
    assert kernels.get("selective_scan_fn", "cuda") is len and kernels.get("mamba_inner_fn", "cuda") is abs
    without_conv = FusedKernels.from_interface(
        types.SimpleNamespace(selective_scan_fn=len, selective_scan_cuda=1)
    )
    assert without_conv.get("mamba_inner_fn", "cuda") is None


def test_a_kernel_that_fails_at_its_call_falls_back_with_one_warning(monkeypatch):
    calls = []

    def broken(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nmore")

    # a stand-in that offers the broken kernels for CPU tensors, as the real ones would for CUDA
    kernels = FusedKernels({"selective_scan_fn": broken, "mamba_inner_fn": broken}, None, devices=("cpu",))
    monkeypatch.setattr(mamba_module, "KERNELS", kernels)
    torch.manual_seed(0)
    block = Mamba(8, d_state=4)
    x = torch.randn(2, 9, 8)
    with pytest.warns(FusedKernelWarning, match="no kernel image") as record:
        first = block(x)
        second = block(x)
    assert len([w for w in record if w.category is FusedKernelWarning]) == 1
    assert len(calls) == 1  # dropped after the first failure
    block.use_fast_path = False
    torch.testing.assert_close(first, block(x))
    torch.testing.assert_close(second, first)


# ------------------------------------------------------------------------ scan memory policy


def test_inference_scan_never_takes_the_parallel_solver_on_any_device():
    """Without autograd the scan streams a small state on every device: memory bounded per sample.

    The parallel solver's (batch, E, N, L / 8, 8, 8) tensors took ~300 MiB per pixel for ViT-B-16
    (76 GiB at batch 256); 'meta' stands in for an accelerator (any device type but CPU).
    """
    for device in ("cpu", "meta"):
        u = torch.empty(256 * 9, 12, 768, device=device)  # a predict batch of S2GPT sequences
        assert scan._solver_settings(u, 16, None, None, needs_grad=False)[0] is False
    small = torch.empty(4, 12, 768, device="meta")
    assert scan._solver_settings(small, 16, None, None, needs_grad=True) == (True, 8)
    huge = torch.empty(32 * 9 * 2, 12, 768, device="meta")  # training batch 32: > PARALLEL_SOLVER_BYTES
    assert scan._solver_settings(huge, 16, None, None, needs_grad=True)[0] is False
    assert scan._solver_settings(torch.empty(4, 12, 768), 16, None, None, True)[0] is False


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
@pytest.mark.parametrize("variant", ["full", "1", "3", "4d"])
def test_a_model_cast_as_a_whole_runs_in_that_dtype(variant, dtype):
    """The float32 islands act under autocast only: a model cast to float64 or bf16 stays in that dtype."""
    model = build(variant=variant).to(dtype).eval()
    hsi, aux = patches(batch=2)
    with torch.no_grad():
        out = model(hsi.to(dtype), aux.to(dtype))
    assert out.logits.dtype == dtype and torch.isfinite(out.logits).all()


def test_a_stand_in_mamba_ssm_without_a_spec_does_not_break_the_probe(monkeypatch):
    monkeypatch.setitem(sys.modules, "mamba_ssm", types.ModuleType("mamba_ssm"))
    kernels = FusedKernels.probe()  # the stub has no ops submodule: not usable, no exception
    assert kernels.problem is not None and kernels.get("selective_scan_fn", "cpu") is None


def test_an_unplannable_patch_size_names_the_nearest_that_work():
    with pytest.raises(ModelSettingError, match=r"29 x 29 .* nearest patch sizes that work: 28 and 30"):
        plan_upsampling(29, 224)


def test_exact_islands_switch_cuda_matmuls_to_ieee_and_restore_tf32():
    """On CUDA the islands' float32 products must not run in TF32 (a process-wide setting)."""
    from models.precision import _ieee_matmuls

    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    try:
        matmul.fp32_precision = "tf32"
        with pytest.raises(RuntimeError, match="inside"), _ieee_matmuls(True):
            assert matmul.fp32_precision == "ieee"
            raise RuntimeError("inside")
        assert matmul.fp32_precision == "tf32"  # restored, also after an error
        with _ieee_matmuls(False):
            assert matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = before


def test_a_kernel_failure_that_breaks_the_cuda_context_is_raised(monkeypatch):
    """An illegal memory access leaves CUDA unusable: no silent fallback, the error itself is raised."""

    def broken(*args: object, **kwargs: object) -> torch.Tensor:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    kernels = FusedKernels({"selective_scan_fn": broken}, None, devices=("cpu",))
    monkeypatch.setattr(fused_kernels, "_cuda_context_broken", lambda: True)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        kernels.call("selective_scan_fn")
    assert "selective_scan_fn" in kernels.functions  # nothing was dropped or warned about
