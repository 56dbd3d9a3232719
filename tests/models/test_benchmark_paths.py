"""The benchmark scripts' measuring code on CPU with tiny sizes: what a GPU session will run must work.

The figures themselves are not asserted (tests never assert on time); the invariants are: every text
path gives the same logits, each shortcut lowers the counted FLOPs, and the GPU measurement's code path
(bf16 autocast is CUDA-only, so here fp32) yields a positive FLOP rate and per-pixel FLOPs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
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
        # the benchmark's CPU configuration, smaller
        model = bench.CPU_TINY.model.replace(hsi_bands=4, class_names=bench.class_names(3), patch_size=7)
        result = bench.measure(
            dataclasses.replace(bench.CPU_TINY, model=model, batch_size=6, steps=1, warmup=1)
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


def test_gpu_check_sections_report_errors_and_time_outs_and_go_on(tmp_path):
    import time

    gpu_check = load("gpu_check")
    report = gpu_check.Report(tmp_path / "lines.jsonl")

    def broken(deadline):
        raise ValueError("no such kernel")

    def fine(value, deadline):
        report.write("fine", value=value)
        return value

    assert gpu_check.run_section(report, "broken", 30, broken) is None
    assert gpu_check.run_section(report, "slow", 2, lambda deadline: time.sleep(6)) is None
    assert gpu_check.run_section(report, "fine", 30, fine, 7) == 7
    assert gpu_check.run_section(report, "late", 30, fine, 8, until=time.perf_counter() + 1) is None
    lines = [json.loads(line) for line in (tmp_path / "lines.jsonl").read_text().splitlines()]
    assert [(x["section"], x["status"]) for x in lines] == [
        ("broken", "error"),
        ("slow", "error"),
        ("fine", "ok"),
        ("late", "skipped"),
    ]
    assert "no such kernel" in lines[0]["error"] and "budget" in lines[1]["error"]
    assert lines[1]["seconds"] < 5


def test_gpu_check_smoke_mode_writes_sensible_json_lines(tmp_path):
    """The whole GPU check on CPU with the tiny backbone: every section, in order, with its figures."""
    out = tmp_path / "check.jsonl"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [json.loads(line) for line in done.stdout.splitlines()] == lines  # stdout and file alike
    assert all(x["status"] == "ok" for x in lines), [x for x in lines if x["status"] != "ok"]
    order = list(dict.fromkeys(x["section"] for x in lines))
    assert order == ["environment", "accuracy", "matmul", "predict", "train_step", "cli", "torchrun", "done"]
    by = {s: [x for x in lines if x["section"] == s] for s in order}
    assert by["environment"][0]["smoke"] is True and by["environment"][0]["backbone"] == "cfipt-tiny"
    same = next(x for x in by["accuracy"] if x["compare"] == "cpu fp32 vs cpu fp32 (TF32 off)")
    assert same["max_abs_logit_difference"] == 0.0 and same["argmax_agreement"] == 1.0
    bf16 = next(x for x in by["accuracy"] if "bf16" in x["compare"])
    assert 0 < bf16["max_abs_logit_difference"] < 1 and 0 <= bf16["argmax_agreement"] <= 1
    assert by["matmul"][0]["flops_per_s"] > 0
    flops, *runs = by["predict"]
    parts = flops["gflops_vision"] + flops["gflops_text"] + flops["gflops_trainable"]
    assert flops["gflops_per_pixel"] > 0 and abs(parts - flops["gflops_per_pixel"]) < 2e-3
    assert [(r["batch_size"], r["amp"]) for r in runs] == [(16, True), (8, True), (16, False)]
    assert all(r["pixels_per_s"] > 0 and r["fraction_of_flop_bound"] > 0 for r in runs)
    (train,) = by["train_step"]
    assert train["gradients_finite"] is True and train["seconds_per_step"] > 0 and train["batch_size"] == 4
    setup, predict = by["cli"]
    assert (
        setup["recorded_amp"] is False
        and setup["train_oa"] > 0
        and predict["run"] == "cpu"
        and predict["batch_size"] == 64
    )
    (ranks,) = by["torchrun"]
    assert ranks["mode"] == "gloo, CPU" and ranks["world_size"] == 2
    assert ranks["blocks_computed"] == ranks["blocks"] > 1 and ranks["identical_to_single_process"] is True


def test_patch_cutting_benchmark_runs_and_checks_equality():
    result = load("patch_cutting").measure(bands=3, block=16, batch=8, repeats=2)
    assert all(result[k] > 0 for k in ("host_cut_ms", "device_cut_dispatch_ms", "device_cut_on_cpu_ms"))
