"""Training speed of CF-IPT: optimizer steps of `cfipt train` on random data.

Usage:
    python benchmarks/train_speed.py                 # CPU, tiny backbone: samples/s
    python benchmarks/train_speed.py --houston       # + CUDA (when present): seconds per epoch of the
                                                     #   Houston configuration (600 samples, 15 classes,
                                                     #   C=144, D=1, p=11, ViT-B-16, bf16), random weights

Each step is what `cfipt_cli.train.trainer.Trainer.run_epoch` does per batch: forward under autocast,
CF-IPT loss, backward, AdamW step. The data are random patches already in memory (training caches its
patches), so the figures measure the model, not the disk. Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import CFIPTConfig  # after the line above: the repository root must be on sys.path


def class_names(n_classes: int) -> tuple[str, ...]:
    """Placeholder names of K classes (only their number matters here)."""
    return tuple(f"class {k}" for k in range(n_classes))


@dataclass(frozen=True)
class Workload:
    """One training configuration to time: the network's settings (random backbone weights) and the run's.

    The run's defaults are Houston's: batch 32, bf16 autocast (`amp`: on CUDA only, a no-op elsewhere).
    """

    model: CFIPTConfig
    batch_size: int = 32
    device: str = "cuda"
    amp: bool = True
    steps: int = 10
    warmup: int = 3


# Houston (600 training samples): K = 15, C = 144, D = 1, and CFIPTConfig's defaults p = 11, n = 6, L = 9.
HOUSTON = Workload(
    CFIPTConfig(
        hsi_bands=144, aux_bands=1, class_names=class_names(15), clip_model="ViT-B-16", pretrained=None
    )
)
# The CPU figure: a tiny backbone, C = 16, K = 6, two prompt tokens in two layers, fp32.
CPU_TINY = Workload(
    HOUSTON.model.replace(
        clip_model="cfipt-tiny", hsi_bands=16, class_names=class_names(6), n_prompt=2, depth=2
    ),
    device="cpu",
    amp=False,
)


def measure(work: Workload) -> dict[str, Any]:
    """Time `work.steps` training steps (after `work.warmup` untimed ones); returns samples/s and s/step."""
    import torch

    from cfipt_cli.compute.devices import autocast, resolve_device
    from models import CFIPT, cfipt_loss

    torch.manual_seed(0)
    dev = resolve_device(work.device)
    config, batch_size = work.model, work.batch_size
    n_classes, patch_size = config.n_classes, config.patch_size
    model = CFIPT(config).to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=1e-4)
    hsi = torch.randn(batch_size, config.hsi_bands, patch_size, patch_size, device=dev)
    aux = torch.randn(batch_size, config.aux_bands, patch_size, patch_size, device=dev)
    targets = torch.arange(batch_size, device=dev) % n_classes

    def step() -> None:
        with autocast(dev, work.amp):
            loss, _ = cfipt_loss(model(hsi, aux), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(work.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(work.steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    finite = all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)
    return {
        "clip_model": config.clip_model,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "amp_bf16": work.amp and dev.type == "cuda",
        "C": config.hsi_bands,
        "D": config.aux_bands,
        "K": n_classes,
        "p": patch_size,
        "batch_size": batch_size,
        "trainable_parameters": sum(p.numel() for p in params),
        "seconds_per_step": seconds / work.steps,
        "samples_per_second": batch_size * work.steps / seconds,
        "gradients_finite": finite and any(p.grad is not None for p in params),
        "peak_gpu_memory_gib": (
            round(torch.cuda.max_memory_allocated(dev) / 2**30, 3) if dev.type == "cuda" else None
        ),
    }


def measure_houston(work: Workload) -> dict[str, Any]:
    """`measure`, plus the seconds of one epoch of Houston's 600 training samples at that rate."""
    result = measure(work)
    result["seconds_per_epoch_600_samples"] = result["seconds_per_step"] * math.ceil(600 / work.batch_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--houston", action="store_true", help="also time the Houston configuration on CUDA")
    parser.add_argument("--clip", default="ViT-B-16", help="backbone of the Houston configuration")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="backbone .* has random weights")  # random on purpose

    cpu = measure(dataclasses.replace(CPU_TINY, steps=args.steps))
    print(json.dumps({"benchmark": "cpu-tiny", **cpu}))
    if not args.houston:
        return
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "houston-gpu", "skipped": "CUDA is not available"}))
        return
    model = HOUSTON.model.replace(clip_model=args.clip)
    houston = measure_houston(dataclasses.replace(HOUSTON, model=model, steps=args.steps))
    print(json.dumps({"benchmark": "houston-gpu", **houston}))


if __name__ == "__main__":
    main()
