"""One GPU check of cfipt, under 8 minutes on one GPU, without network: JSON lines as it goes.

Usage (on the GPU machine; benchmarks/README.md has the exact command with the wheels):
    python benchmarks/gpu_check.py --out gpu_check.jsonl        # CUDA, ViT-B-16, Houston sizes
    python benchmarks/gpu_check.py --smoke --out smoke.jsonl    # CPU, cfipt-tiny, tiny sizes (tests)

Every result is one JSON object on one line, printed to stdout and appended to --out as soon as it is
known, so a run cut short still reports what it measured. Each line has "section" and "status"
("ok", "error" or "skipped"). Sections, in this order, each guarded (a failure writes an "error" line
and the next section runs) and each with a time budget (SIGALRM; subprocesses are killed with their
process group):

1. accuracy: CF-IPT (random weights, Houston preset: 144 HSI + 1 LiDAR bands, 15 classes, p = 11) on the
   same random patches: CPU fp32 vs CUDA fp32 (strict, TF32 off) and vs CUDA fp32 with TF32 (cfipt's
   CUDA default for fp32 work), and CUDA bf16 autocast vs CUDA fp32: largest logit difference, argmax
   agreement, and the median top-1 margin (random weights give small margins, so ties weigh more).
2. matmul: the rate of a bf16 8192^3 matrix product (the attainable FLOP/s of this GPU, roughly).
3. predict: `BlockClassifier.classify` (what `cfipt predict` runs per block: one transfer of the block,
   patches cut on the device, batches under bf16 autocast, one synchronisation) on a 128 x 128 px
   in-memory block at batch 256, 64 and 512 (and 256 without autocast): px/s, peak GPU memory, and
   px/s as a fraction of the FLOP bound (matmul rate / counted GFLOP per pixel, attention included).
4. train_step: a CF-IPT training step (forward under bf16 autocast, loss, backward, AdamW) at batch 32:
   s/step, s per epoch of 600 samples, peak GPU memory, finite gradients.
5. cli: `cfipt train` / `cfipt predict` end to end in subprocesses on a generated scene folder (classes
   in 4 px cells, 15 % of the pixels labelled; written by `predict_throughput.write_scene`, because
   `cfipt prepare` and `cfipt_cli.testing.synthetic` need scipy / geopandas, which the GPU machine lacks),
   tiny backbone trained on the device: the map predicted on CPU vs on CUDA (bf16, the default) and
   CUDA --no-amp, pixel agreement.
6. torchrun: `torchrun --nproc-per-node 2 -m cfipt_cli predict` on the same scene: with 2+ GPUs one GPU
   per rank (NCCL); with one GPU both ranks share it (gloo); on CPU gloo. The map vs the single-process
   map on the same device (byte-identical expected).

--smoke runs the same code on --device (default cpu) with the `cfipt-tiny` backbone and tiny sizes, so
that a test can run it on any machine; bf16 there is CPU autocast.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]


@dataclass(frozen=True)
class Sizes:
    """What one run measures; `FULL` on a GPU, `SMOKE` for the test on CPU."""

    clip: str
    hsi_bands: int
    n_classes: int
    accuracy_samples: int
    block: int
    batches: tuple[int, ...]
    matmul_n: int
    train_batch: int
    train_steps: int
    scene_size: int
    cli_block: int
    cli_epochs: int
    budgets: dict[str, float]


# field: (the GPU run, the smoke run on CPU)
_SIZES: dict[str, tuple[Any, Any]] = {
    "clip": ("ViT-B-16", "cfipt-tiny"),
    "hsi_bands": (144, 8),
    "n_classes": (15, 4),
    "accuracy_samples": (256, 8),
    "block": (128, 8),
    "batches": ((256, 64, 512), (16, 8)),
    "matmul_n": (8192, 128),
    "train_batch": (32, 4),
    "train_steps": (5, 1),
    "scene_size": (64, 16),
    "cli_block": (16, 8),
    "cli_epochs": (3, 1),
    "budgets": (
        {"accuracy": 80, "matmul": 15, "predict": 90, "train_step": 50, "cli": 100, "torchrun": 70},
        {"accuracy": 60, "matmul": 20, "predict": 60, "train_step": 60, "cli": 240, "torchrun": 180},
    ),
}
FULL = Sizes(**{name: values[0] for name, values in _SIZES.items()})
SMOKE = Sizes(**{name: values[1] for name, values in _SIZES.items()})


TOTAL_BUDGET_S = 450.0  # every section's budget is cut to what is left of this (the run stays < 8 min)


class SectionTimeout(Exception):
    """A section ran past its time budget."""


class Report:
    """JSON lines to stdout and to a file, flushed one by one."""

    def __init__(self, path: Path | None):
        self.handle = path.open("a", encoding="utf-8") if path else None

    def write(self, section: str, status: str = "ok", **fields: Any) -> None:
        line = json.dumps({"section": section, "status": status, **fields}, default=str)
        print(line, flush=True)
        if self.handle:
            self.handle.write(line + "\n")
            self.handle.flush()
            os.fsync(self.handle.fileno())


def run_section(
    report: Report, name: str, budget_s: float, fn: Callable[..., Any], *args: Any, until: float | None = None
) -> Any:
    """fn(*args, deadline) as one section: its exception, or running past `budget_s` (or the run's
    `until`), becomes one "error" line and None is returned; with under 2 s left it is "skipped"."""
    if until is not None:
        budget_s = min(budget_s, until - time.perf_counter())
    if budget_s < 2:
        report.write(name, "skipped", reason="the run's time budget is spent")
        return None

    def expired(_signum: int, _frame: Any) -> None:
        raise SectionTimeout(f"section {name} ran past its budget of {budget_s:.0f} s")

    start = time.perf_counter()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(max(1, math.ceil(budget_s)))
    try:
        return fn(*args, start + budget_s)
    except Exception as exc:  # one section's failure must not stop the next
        report.write(
            name,
            "error",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=3)[-1500:],
            seconds=round(time.perf_counter() - start, 2),
        )
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: Any) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _set_tf32(device: Any, on: bool) -> None:
    """TF32 on (cfipt's CUDA default, `devices.enable_tf32`) or off (strict fp32)."""
    import torch

    from cfipt_cli.compute.devices import enable_tf32

    if device.type != "cuda":
        return
    if on:
        enable_tf32(device)
    elif hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cuda.matmul.fp32_precision = "ieee"
        torch.backends.cudnn.conv.fp32_precision = "ieee"  # type: ignore[attr-defined]
    else:  # pragma: no cover - older torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _bf16(device: Any) -> Any:
    """bf16 autocast on `device` (CUDA as cfipt runs it; CPU autocast in smoke mode)."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _model(sizes: Sizes, device: Any) -> Any:
    import torch

    from models import CFIPT, CFIPTConfig

    names = tuple(f"class {k}" for k in range(1, sizes.n_classes + 1))
    config = CFIPTConfig.from_preset(
        "houston", clip_model=sizes.clip, pretrained=None, hsi_bands=sizes.hsi_bands, class_names=names
    )
    torch.manual_seed(0)
    return CFIPT(config).to(device).eval()


# ------------------------------------------------------------------------------------------------
# 1. accuracy
# ------------------------------------------------------------------------------------------------


def _compare(reference: Any, other: Any) -> dict[str, Any]:
    ref, oth = reference.float().cpu(), other.float().cpu()
    top2 = ref.topk(2, dim=1).values
    return {
        "max_abs_logit_difference": float((ref - oth).abs().max()),
        "logit_scale_of_reference": float(ref.abs().max()),
        "argmax_agreement": float((ref.argmax(1) == oth.argmax(1)).float().mean()),
        "median_top1_margin": float((top2[:, 0] - top2[:, 1]).median()),
        "n": ref.shape[0],
    }


def section_accuracy(report: Report, sizes: Sizes, device: Any, deadline: float) -> None:
    import torch

    cpu = torch.device("cpu")
    model = _model(sizes, cpu)
    cfg = model.config
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(
        sizes.accuracy_samples, cfg.hsi_bands + cfg.aux_bands, cfg.patch_size, cfg.patch_size, generator=gen
    )

    def logits(on: Any, amp: bool = False, until: float | None = None) -> Any:
        out = []
        with torch.inference_mode():
            for chunk in x.split(32):
                if until is not None and out and time.perf_counter() > until:
                    break  # the CPU is slow: compare fewer samples rather than none
                chunk = chunk.to(on)
                with _bf16(on) if amp else contextlib.nullcontext():
                    out.append(
                        model(chunk[:, : cfg.hsi_bands], chunk[:, cfg.hsi_bands :]).logits.float().cpu()
                    )
        return torch.cat(out)

    started = time.perf_counter()
    reference = logits(cpu, until=started + 0.4 * (deadline - started))
    x = x[: len(reference)]
    report.write(
        "accuracy",
        compare="cpu fp32 (reference)",
        n=len(reference),
        seconds=round(time.perf_counter() - started, 2),
    )
    model.to(device)
    try:
        _set_tf32(device, False)
        strict = logits(device)
        report.write(
            "accuracy", compare=f"cpu fp32 vs {device} fp32 (TF32 off)", **_compare(reference, strict)
        )
        if device.type == "cuda":
            _set_tf32(device, True)
            report.write(
                "accuracy",
                compare=f"cpu fp32 vs {device} fp32 with TF32",
                **_compare(reference, logits(device)),
            )
        bf16 = logits(device, amp=True)
        report.write("accuracy", compare=f"{device} fp32 vs {device} bf16 autocast", **_compare(strict, bf16))
        if device.type != "cpu":
            report.write(
                "accuracy", compare=f"cpu fp32 vs {device} bf16 autocast", **_compare(reference, bf16)
            )
    finally:  # the later sections measure cfipt's default (TF32 on), also after a failure here
        _set_tf32(device, True)


# ------------------------------------------------------------------------------------------------
# 2.-4. matmul, predict, train step
# ------------------------------------------------------------------------------------------------


def section_matmul(report: Report, sizes: Sizes, device: Any, deadline: float) -> float:
    from predict_throughput import matmul_flops_per_s

    rate = matmul_flops_per_s(device, sizes.matmul_n)
    report.write("matmul", n=sizes.matmul_n, dtype="bfloat16", flops_per_s=rate, tflops=round(rate / 1e12, 3))
    return rate


def section_predict(report: Report, sizes: Sizes, device: Any, matmul: float | None, deadline: float) -> None:
    import torch
    from flop_count import count_forward
    from predict_throughput import _timed, houston_block

    from cfipt_cli.predict.classifier import BlockClassifier
    from cfipt_cli.predict.settings import PredictSettings

    model, info, data = houston_block(device, sizes.block, sizes.clip, sizes.hsi_bands, sizes.n_classes)
    p, c = info.patch_size, sizes.hsi_bands
    x = torch.randn(4, c + 1, p, p, device=device)
    flops = count_forward(model, x[:, :c], x[:, c:], functools.partial(_bf16, device))
    report.write(
        "predict",
        measure="GFLOP per pixel (counted, attention included)",
        gflops_per_pixel=round(flops["total"] / 1e9, 3),
        gflops_vision=round(flops["vision"] / 1e9, 3),
        gflops_text=round(flops["text"] / 1e9, 3),
        gflops_trainable=round(flops["rest"] / 1e9, 3),
    )
    runs = [(b, True) for b in sizes.batches] + [(sizes.batches[0], False)]
    last = 0.0  # seconds of the last run's three classify calls (fp32 takes about 3 times longer)
    for batch, amp in runs:
        if time.perf_counter() + last * (1 if amp else 3) > deadline - 3:
            report.write("predict", "skipped", batch_size=batch, amp=amp, reason="section budget spent")
            continue
        begun = time.perf_counter()
        try:
            _reset_peak(device)
            settings = PredictSettings(batch_size=batch, block_size=sizes.block, amp=amp)
            classifier = BlockClassifier(
                model, info, device, settings, want_proba=False, want_confidence=False
            )
            seconds = _timed(lambda classifier=classifier: classifier.classify(data), 2, device)
        except torch.cuda.OutOfMemoryError as exc:
            report.write("predict", "error", batch_size=batch, amp=amp, error=f"out of memory: {exc}"[:500])
            continue
        last = time.perf_counter() - begun
        rate = sizes.block**2 / seconds
        bound = matmul / flops["total"] if matmul else None
        report.write(
            "predict",
            batch_size=batch,
            amp=amp,
            backbone=f"{sizes.clip} (random weights)",
            pixels=sizes.block**2,
            pixels_per_s=round(rate, 1),
            peak_gpu_memory_gib=_peak_gib(device),
            flop_bound_pixels_per_s=round(bound, 1) if bound else None,
            fraction_of_flop_bound=round(rate / bound, 3) if bound else None,
            houston_seconds_at_this_rate=round(665_000 / rate, 1),
        )


def section_train_step(report: Report, sizes: Sizes, device: Any, deadline: float) -> None:
    from train_speed import HOUSTON, Workload, class_names, measure_houston

    _reset_peak(device)
    warmup = 2 if device.type == "cuda" else 1
    model = HOUSTON.model.replace(
        clip_model=sizes.clip, hsi_bands=sizes.hsi_bands, class_names=class_names(sizes.n_classes)
    )
    work = Workload(
        model, batch_size=sizes.train_batch, device=str(device), steps=sizes.train_steps, warmup=warmup
    )
    result = measure_houston(work)
    report.write("train_step", **result)


# ------------------------------------------------------------------------------------------------
# 5.-6. the CLI in subprocesses, torchrun
# ------------------------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM first (torchrun's agent then stops its workers, which run in sessions of their own and
    would survive a kill of this group), SIGKILL after 5 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _run(cmd: list[Any], deadline: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command in its own process group; killed with its children at `deadline`."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), environment.get("PYTHONPATH")) if p)
    environment.setdefault("PYTHONWARNINGS", "ignore")
    process = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=max(1.0, deadline - time.perf_counter()))
    except BaseException:
        _stop(process)
        raise
    if process.returncode != 0:
        raise RuntimeError(
            f"{' '.join(str(c) for c in cmd[:6])} ... exit {process.returncode}: {err[-1500:]}"
        )
    return json.loads(out) if out.strip().startswith("{") else {}


def _cfipt(*args: Any) -> list[Any]:
    return [sys.executable, "-m", "cfipt_cli", "-q", *args]


def _read_map(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


def section_cli(report: Report, sizes: Sizes, device: Any, work: Path, deadline: float) -> dict[str, Any]:
    from predict_throughput import write_scene

    scene, model = work / "scene", work / "model"
    write_scene(scene, sizes.scene_size, sizes.hsi_bands, sizes.n_classes, train=0.15)
    started = time.perf_counter()
    train = _run(
        _cfipt(
            "train",
            scene,
            "--out",
            model,
            "--clip",
            "cfipt-tiny",
            "--pretrained",
            "none",
            "--epochs",
            sizes.cli_epochs,
            "--device",
            device,
            "--json",
        ),
        deadline,
    )
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    report.write(
        "cli",
        step="scene + train",
        scene=f"{sizes.scene_size} x {sizes.scene_size} px written by predict_throughput.write_scene",
        device=str(device),
        seconds=round(time.perf_counter() - started, 2),
        train_seconds=train.get("seconds"),
        train_oa=train.get("train_oa"),
        recorded_amp=meta["train_config"]["amp"],
    )
    common = ["--model", model, "--block-size", sizes.cli_block, "--json"]
    maps: dict[str, Path] = {}
    runs = [("cpu", ["--device", "cpu"])]
    if device.type != "cpu":
        runs += [
            (f"{device} default", ["--device", device]),
            (f"{device} --no-amp", ["--device", device, "--no-amp"]),
        ]
    for label, flags in runs:
        out = work / f"map-{len(maps)}.tif"
        summary = _run(_cfipt("predict", scene, "--out", out, *common, *flags), deadline)
        maps[label] = out
        fields: dict[str, Any] = {
            "run": label,
            "pixels_per_s": summary.get("pixels_per_second"),
            "batch_size": summary.get("batch_size"),
            "amp": summary.get("amp"),
        }
        if label != "cpu":
            reference, other = _read_map(maps["cpu"]), _read_map(out)
            fields["pixel_agreement_with_cpu"] = float((reference == other).mean())
        report.write("cli", step="predict", **fields)
    single = maps["cpu" if device.type == "cpu" else f"{device} default"]
    return {"scene": scene, "model": model, "map": single, "common": common}


def section_torchrun(report: Report, device: Any, work: Path, cli: dict[str, Any], deadline: float) -> None:
    import torch

    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    mode = (
        "nccl, one GPU per rank"
        if gpus >= 2
        else "gloo, 2 ranks sharing one GPU"
        if gpus == 1
        else "gloo, CPU"
    )
    out = work / "map-torchrun.tif"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [
        "-m",
        "cfipt_cli",
        "-q",
        "predict",
        cli["scene"],
        "--out",
        out,
        *cli["common"],
        "--device",
        device,
        "--dist-timeout",
        "60",  # a hung rank fails the section in a minute, not after the 6 h default
    ]
    env = {"OMP_NUM_THREADS": "1"} if device.type == "cpu" else {}
    started = time.perf_counter()
    summary = _run(cmd, deadline, env)
    single = _read_map(cli["map"])
    two = _read_map(out)
    report.write(
        "torchrun",
        mode=mode,
        world_size=summary.get("world_size"),
        blocks=summary.get("blocks"),
        blocks_computed=summary.get("blocks_computed"),
        seconds=round(time.perf_counter() - started, 2),
        pixel_agreement_with_single_process=float((single == two).mean()),
        identical_to_single_process=out.read_bytes() == Path(cli["map"]).read_bytes(),
    )


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("gpu_check.jsonl"), help="JSON lines file (appended)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and backbone, --device (default cpu)"
    )
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # random backbones warn by design
    started = time.perf_counter()
    until = started + TOTAL_BUDGET_S
    report = Report(args.out)
    import torch

    import models.backbone  # noqa: F401  (registers cfipt-tiny with open_clip)
    from cfipt_cli.compute.devices import enable_tf32, resolve_device

    sizes = SMOKE if args.smoke else FULL
    device = resolve_device(args.device or ("cpu" if args.smoke else "cuda"))
    enable_tf32(device)
    report.write(
        "environment",
        smoke=args.smoke,
        device=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        gpus=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        torch=torch.__version__,
        cuda=torch.version.cuda,
        python=sys.version.split()[0],
        threads=torch.get_num_threads(),
        backbone=sizes.clip,
        budgets_s=sizes.budgets,
    )
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="cfipt-gpu-check-"))
        )
        budgets = sizes.budgets
        common = (report, sizes, device)
        run_section(report, "accuracy", budgets["accuracy"], section_accuracy, *common, until=until)
        matmul = run_section(report, "matmul", budgets["matmul"], section_matmul, *common, until=until)
        run_section(report, "predict", budgets["predict"], section_predict, *common, matmul, until=until)
        run_section(report, "train_step", budgets["train_step"], section_train_step, *common, until=until)
        cli = run_section(report, "cli", budgets["cli"], section_cli, *common, work, until=until)
        if cli is None:
            report.write("torchrun", "skipped", reason="the cli section did not finish")
        else:
            args_ = (report, device, work, cli)
            run_section(report, "torchrun", budgets["torchrun"], section_torchrun, *args_, until=until)
    report.write("done", seconds=round(time.perf_counter() - started, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
