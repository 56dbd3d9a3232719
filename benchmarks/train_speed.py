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
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(
    *,
    clip_model: str,
    n_hsi: int,
    n_aux: int,
    n_classes: int,
    patch_size: int,
    batch_size: int,
    device: str,
    amp: bool,
    steps: int,
    warmup: int = 3,
    prompt_length: int = 6,
    prompt_depth: int = 9,
) -> dict[str, Any]:
    """Time `steps` training steps (after `warmup` untimed ones); returns samples/s and s/step."""
    import torch

    from cfipt_cli.compute.devices import autocast, resolve_device
    from models import CFIPT, CFIPTConfig, cfipt_loss

    torch.manual_seed(0)
    dev = resolve_device(device)
    config = CFIPTConfig(
        hsi_bands=n_hsi,
        aux_bands=n_aux,
        patch_size=patch_size,
        class_names=tuple(f"class {k}" for k in range(n_classes)),
        clip_model=clip_model,
        pretrained=None,
        n_prompt=prompt_length,
        depth=prompt_depth,
    )
    model = CFIPT(config).to(dev).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=1e-4)
    hsi = torch.randn(batch_size, n_hsi, patch_size, patch_size, device=dev)
    aux = torch.randn(batch_size, n_aux, patch_size, patch_size, device=dev)
    targets = torch.arange(batch_size, device=dev) % n_classes

    def step() -> None:
        with autocast(dev, amp):
            loss, _ = cfipt_loss(model(hsi, aux), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    finite = all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)
    return {
        "clip_model": clip_model,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "amp_bf16": amp and dev.type == "cuda",
        "C": n_hsi,
        "D": n_aux,
        "K": n_classes,
        "p": patch_size,
        "batch_size": batch_size,
        "trainable_parameters": sum(p.numel() for p in params),
        "seconds_per_step": seconds / steps,
        "samples_per_second": batch_size * steps / seconds,
        "gradients_finite": finite and any(p.grad is not None for p in params),
        "peak_gpu_memory_gib": (
            round(torch.cuda.max_memory_allocated(dev) / 2**30, 3) if dev.type == "cuda" else None
        ),
    }


def measure_houston(
    clip_model: str,
    device: str,
    *,
    steps: int,
    batch_size: int = 32,
    n_hsi: int = 144,
    n_classes: int = 15,
    warmup: int = 3,
) -> dict[str, Any]:
    """`measure` of the Houston configuration (p = 11, D = 1; bf16 on CUDA), plus s per 600-sample epoch."""
    result = measure(
        clip_model=clip_model,
        n_hsi=n_hsi,
        n_aux=1,
        n_classes=n_classes,
        patch_size=11,
        batch_size=batch_size,
        device=device,
        amp=device.startswith("cuda"),
        steps=steps,
        warmup=warmup,
    )
    result["seconds_per_epoch_600_samples"] = result["seconds_per_step"] * math.ceil(600 / batch_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--houston", action="store_true", help="also time the Houston configuration on CUDA")
    parser.add_argument("--clip", default="ViT-B-16", help="backbone of the Houston configuration")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="backbone .* has random weights")  # random on purpose

    cpu = measure(
        clip_model="cfipt-tiny",
        n_hsi=16,
        n_aux=1,
        n_classes=6,
        patch_size=11,
        batch_size=32,
        device="cpu",
        amp=False,
        steps=args.steps,
        prompt_depth=2,
        prompt_length=2,
    )
    print(json.dumps({"benchmark": "cpu-tiny", **cpu}))
    if not args.houston:
        return
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "houston-gpu", "skipped": "CUDA is not available"}))
        return
    houston = measure_houston(args.clip, "cuda", steps=args.steps)
    print(json.dumps({"benchmark": "houston-gpu", **houston}))


if __name__ == "__main__":
    main()
