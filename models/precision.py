"""Float32 islands under mixed precision.

Training and prediction may run the frozen towers under bf16 autocast (`--amp`). A few places must
stay float32 whatever the surrounding autocast says, because bf16's 8-bit mantissa is too coarse there:

- the logits: logit scale (100) x cosine similarity; bf16 steps near 100 are 0.5, enough to flip the
  argmax of close classes; the softmax, the losses and the feature normalisation that feed them;
- the selective scan: a long product of decays and sums of inputs;
- the prompt matrices P_sp and P_sa: softmax over scores of up to C or HW terms.

`float32_region(x)` switches autocast off for x's device and yields a `lift` function that takes
bf16 / fp16 tensors to float32 (float64 stays float64). Outside autocast it changes nothing and `lift`
is the identity: a model the user cast to bf16 (or float64) as a whole runs in that dtype, as asked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.amp import is_autocast_available

__all__ = ["at_least_float32", "autocast_active", "float32_region", "lift_under_autocast"]

Lift = Callable[[Tensor], Tensor]


def autocast_active(like: Tensor) -> bool:
    """Whether autocast is on for the device type of `like`."""
    device_type = like.device.type
    return is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)


@contextlib.contextmanager
def float32_region(like: Tensor, exact: bool = True) -> Iterator[Lift]:
    """Autocast off on `like`'s device while inside; yields `at_least_float32` (identity outside autocast).

    `exact`: on CUDA the float32 matrix products inside run in full IEEE float32, also where TF32 is
    on for the rest (TF32 keeps 10 mantissa bits: steps of about 0.1 near logit 100). The islands are
    small (one token per sample, C x C scores), so this costs little; the text tower, a large block,
    uses `exact=False` and keeps TF32.
    """
    with _ieee_matmuls(like.device.type == "cuda" and exact):
        if not autocast_active(like):
            yield _unchanged
            return
        with torch.autocast(device_type=like.device.type, enabled=False):
            yield at_least_float32


@contextlib.contextmanager
def _ieee_matmuls(active: bool) -> Iterator[None]:
    """CUDA float32 matmuls in IEEE precision while inside (a process-wide setting, restored after)."""
    matmul = torch.backends.cuda.matmul
    if not active or not hasattr(matmul, "fp32_precision"):
        yield
        return
    before = matmul.fp32_precision
    matmul.fp32_precision = "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision = before


def at_least_float32(tensor: Tensor) -> Tensor:
    """float16 / bfloat16 -> float32; float32 and float64 unchanged."""
    return tensor.float() if tensor.is_floating_point() and tensor.element_size() < 4 else tensor


def lift_under_autocast(tensor: Tensor) -> Tensor:
    """`at_least_float32` under autocast (the operations that follow still autocast), else unchanged."""
    return at_least_float32(tensor) if autocast_active(tensor) else tensor


def _unchanged(tensor: Tensor) -> Tensor:
    return tensor
