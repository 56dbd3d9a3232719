"""Choosing the compute device and mixed precision: CPU and CUDA with the same code."""

from __future__ import annotations

import contextlib
from typing import Any

from cfipt_cli.errors import CfiptUsageError, DeviceUnavailableError


def resolve_device(spec: str = "auto") -> Any:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> torch.device; CUDA asked for but absent is an error."""
    import torch

    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"--device {spec} was asked for but CUDA is not available here; use --device cpu or auto"
            )
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceUnavailableError(
                f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return torch.device(spec)
    raise CfiptUsageError(f"--device must be auto, cpu, cuda or cuda:N, not {spec!r}")


def autocast(device: Any, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when `amp` is set; a no-op elsewhere (CPU runs stay fp32 and exact)."""
    import torch

    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
