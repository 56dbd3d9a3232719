"""Choosing the compute device and its precision: CPU and CUDA with the same code.

Defaults per device (what `cfipt train` / `cfipt predict` resolve when not told otherwise):

- CUDA: bf16 autocast on (`--no-amp` turns it off), TF32 for the fp32 matrix products and
  convolutions that remain, prediction batches of 256 patches.
- CPU: fp32 throughout and exact (bit-identical runs), prediction batches of 64. `--amp` on CPU is
  accepted and ignored with a warning: bf16 autocast on CPU is slower than fp32 there and would give up
  the exactness the CPU path guarantees, so a command written for a GPU runs unchanged on a CPU.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from cfipt_cli.errors import CfiptUsageError, DeviceUnavailableError
from cfipt_cli.log import get_logger

log = get_logger(__name__)

PREDICT_BATCH_CPU = 64
PREDICT_BATCH_CUDA = 256


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


def resolve_amp(amp: bool | None, device: Any) -> bool:
    """The bf16 autocast actually used: None (not given) means on for CUDA, off elsewhere.

    `True` on a CPU is ignored with a warning (CPU runs stay fp32, see the module docstring).
    """
    if device.type != "cuda":
        if amp:
            log.warning("--amp is ignored on %s: CPU runs stay in float32", device)
        return False
    return True if amp is None else bool(amp)


def default_predict_batch(device: Any) -> int:
    """Patches per forward pass of `cfipt predict` when --batch-size is not given."""
    return PREDICT_BATCH_CUDA if device.type == "cuda" else PREDICT_BATCH_CPU


def enable_tf32(device: Any) -> bool:
    """Let CUDA run fp32 matrix products and convolutions in TF32; returns whether it applies."""
    if device.type != "cuda":
        return False
    import torch

    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; mixing with allow_tf32 is refused there
        matmul.fp32_precision = "tf32"
        conv.conv.fp32_precision = "tf32"  # type: ignore[attr-defined]
    else:  # pragma: no cover - older torch
        matmul.allow_tf32 = True
        conv.allow_tf32 = True
    return True


class Staged:
    """Numpy arrays packed into one host byte buffer (pinned for CUDA), ready for one transfer.

    Each array starts at an offset aligned to 64 bytes. `arrays` are numpy views of the buffer (the
    packed copies); `to(device)` copies the whole buffer with `non_blocking=True` and returns tensors
    of the arrays' dtypes and shapes viewed on the device. Pinned blocks come from torch's caching host
    allocator, which keeps a block until the copies that read it are done, so dropping a `Staged` right
    after `to()` is safe. On CPU the same packing runs (one memcpy), so the CPU tests exercise the CUDA
    code path; values are bit for bit the arrays' own.
    """

    def __init__(self, arrays: list[np.ndarray], pin: bool = False):
        import torch

        arrays = [np.ascontiguousarray(a) for a in arrays]
        offsets, total = [], 0
        for a in arrays:
            offsets.append(total)
            total += -(-a.nbytes // 64) * 64
        self.host = torch.empty(total, dtype=torch.uint8, pin_memory=pin)
        packed = self.host.numpy()
        self.layout = [
            (offset, a.nbytes, a.dtype, a.shape) for a, offset in zip(arrays, offsets, strict=True)
        ]
        self.arrays: list[np.ndarray] = []
        for a, (offset, nbytes, dtype, shape) in zip(arrays, self.layout, strict=True):
            view = packed[offset : offset + nbytes].view(dtype).reshape(shape)
            view[...] = a
            self.arrays.append(view)

    def to(self, device: Any) -> list[Any]:
        """The arrays as tensors on `device`, after one (asynchronous where possible) copy."""
        on_device = self.host.to(device, non_blocking=True)
        return [
            on_device[offset : offset + nbytes].view(_torch_dtype(dtype)).view(shape)
            for offset, nbytes, dtype, shape in self.layout
        ]


def upload(arrays: list[np.ndarray], device: Any) -> list[Any]:
    """Copy numpy arrays to `device` in one host-to-device transfer (pinned, non-blocking on CUDA)."""
    return Staged(arrays, pin=device.type == "cuda").to(device)


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


def autocast(device: Any, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when `amp` is set; a no-op elsewhere (CPU runs stay fp32 and exact)."""
    import torch

    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
