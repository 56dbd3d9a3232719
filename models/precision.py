"""Float32 islands under mixed precision.

Training and prediction may run the frozen towers under bf16 autocast (`--amp`). A few places must
stay float32 whatever the surrounding autocast says, because bf16's 8-bit mantissa is too coarse there:

- the logits: logit scale (100) x cosine similarity; bf16 steps near 100 are 0.5, enough to flip the
  argmax of close classes; the softmax, the losses and the feature normalisation that feed them;
- the selective scan: a long product of decays and sums of inputs;
- the prompt matrices P_sp and P_sa: softmax over scores of up to C or HW terms.

`float32_region` switches autocast off for the device of a tensor; the caller lifts its inputs with
`at_least_float32` inside it (float64 stays float64). Outside autocast neither changes anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.amp import is_autocast_available

__all__ = ["at_least_float32", "float32_region"]


@contextlib.contextmanager
def float32_region(like: Tensor) -> Iterator[None]:
    """Autocast disabled on the device type of `like` (operations then run in their inputs' dtype)."""
    device_type = like.device.type
    if not is_autocast_available(device_type):
        yield
        return
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def at_least_float32(tensor: Tensor) -> Tensor:
    """float16 / bfloat16 -> float32; float32 and float64 unchanged."""
    return tensor.float() if tensor.is_floating_point() and tensor.element_size() < 4 else tensor
