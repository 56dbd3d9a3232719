"""The benchmark scripts' measuring code on CPU with tiny sizes: what a GPU session will run must work.

The figures themselves are not asserted (tests never assert on time); the invariants are: every text
path gives the same logits, each shortcut lowers the counted FLOPs, and the GPU measurement's code path
(bf16 autocast is CUDA-only, so here fp32) yields a positive FLOP rate and per-pixel FLOPs.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

from models import RandomBackboneWarning

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_model_forward_paths_agree_and_each_shortcut_saves_flops():
    bench = load("model_forward")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        rows = bench.measure("houston", "cfipt-tiny", batch=2, repeats=1, device=torch.device("cpu"))
    by_path = {row["text_path"]: row for row in rows}
    assert set(by_path) == {"cut + prefix", "cut", "uncut"}
    assert by_path["uncut"]["text_tokens"] == 77 and by_path["cut"]["text_tokens"] < 77
    flops = [by_path[p]["gflops_per_sample"] for p in ("cut + prefix", "cut", "uncut")]
    assert flops[0] < flops[1] < flops[2]
    assert all(row["max_abs_logit_difference_to_uncut"] < 1e-4 for row in rows)


def test_predict_gpu_measurement_runs_on_cpu_with_a_tiny_backbone():
    bench = load("predict_throughput")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        result = bench.bench_gpu(
            batch_size=16,
            block=8,
            device_name="cpu",
            clip_model="cfipt-tiny",
            hsi_bands=4,
            n_classes=3,
            matmul_n=64,
        )
    assert result["pixels_per_s"] > 0 and result["gflops_per_pixel"] > 0
    assert result["fraction_of_matmul"] > 0 and result["matmul_bf16_tflops"] > 0


def test_train_speed_step_runs_and_counts_only_trainable_parameters():
    bench = load("train_speed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        result = bench.measure(
            clip_model="cfipt-tiny",
            n_hsi=4,
            n_aux=1,
            n_classes=3,
            patch_size=7,
            batch_size=6,
            device="cpu",
            amp=False,
            steps=1,
            warmup=1,
            prompt_depth=2,
            prompt_length=2,
        )
    assert result["samples_per_second"] > 0
    assert 0 < result["trainable_parameters"] < 1_000_000  # the frozen CLIP is not counted


def test_flop_count_includes_cpu_attention_equal_to_a_hand_count():
    """Every attention of both towers is counted on CPU: the counter equals the count from the shapes."""
    flop_count = load("flop_count")
    from models import CFIPT, CFIPTConfig

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RandomBackboneWarning)
        config = CFIPTConfig.from_preset("houston", clip_model="cfipt-tiny", pretrained=None)
        model = CFIPT(config).eval()
    batch, p = 2, config.patch_size
    hsi, aux = torch.randn(batch, config.hsi_bands, p, p), torch.randn(batch, config.aux_bands, p, p)
    flops = flop_count.count_forward(model, hsi, aux)

    # By hand, per sample: one attention of q queries over k keys of width w costs 4 q k w
    # (Q K^T and the weighted sum of V, 2 q k w each, summed over the heads).
    clip = model.backbone.clip
    visual, n = clip.visual, config.n_prompt
    grid = visual.conv1(torch.zeros(1, 3, *visual.image_size)).shape[-1]
    tokens, width, layers = 1 + grid * grid + n, visual.transformer.width, len(visual.transformer.resblocks)
    vision = (layers - 1) * 4 * tokens * tokens * width + 4 * 1 * tokens * width  # last: class token
    prefix, length = n + 1, model.backbone.cut_length
    suffix, classes = length - prefix, len(config.class_names)
    text_width, text_layers = clip.transformer.width, len(clip.transformer.resblocks)
    per_layer = 4 * prefix * prefix + 4 * classes * suffix * length  # prefix once, class tokens per class
    text = (text_layers - 1) * per_layer * text_width + 4 * classes * 1 * length * text_width  # last: EOT
    assert flops["attention"] == vision + text > 0

    # Without the CPU formula torch's counter misses exactly that.
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as plain:
        model(hsi, aux)
    assert flops["total"] - plain.get_total_flops() / batch == vision + text
    assert flops["vision"] > 0 and flops["text"] > 0 and flops["rest"] > 0
    assert abs(flops["vision"] + flops["text"] + flops["rest"] - flops["total"]) < 1e-6 * flops["total"]
