"""FLOPs of a CF-IPT forward pass on every device, attention included, split by tower.

`torch.utils.flop_counter.FlopCounterMode` knows matrix products, convolutions and the CUDA attention
kernels (flash, memory-efficient, cuDNN), but not the kernel that `F.scaled_dot_product_attention`
dispatches to on CPU (`aten._scaled_dot_product_flash_attention_for_cpu`): on CPU the attention of both
CLIP towers went uncounted (Houston / ViT-B-16: 38.3 instead of 39.8 GFLOP per pixel). `flop_counter()`
adds the same formula torch uses for the CUDA kernels (4 * batch * heads * queries * keys * head dim
forward, 2.5 times that backward) for the CPU kernel. `count_forward` splits a CF-IPT forward pass into
the vision tower, the text tower and the rest (the trainable blocks MFPG, IAE and V-TPI, and the
similarity): the difference of the running total around `backbone.encode_image` / `encode_text`.

Element-wise work (norms, activations, softmax, the selective scan's exponentials) is not counted.
Grad mode must stay on while counting: the counter's module tracker fails on inference tensors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _attention_formulas() -> dict[Any, Any]:
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def forward(query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
        return sdpa_backward_flop_count(grad_out, query, key, value)

    formulas = {}
    for name, formula in (
        ("_scaled_dot_product_flash_attention_for_cpu", forward),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", backward),
    ):
        if hasattr(aten, name):
            formulas[getattr(aten, name)] = formula
    return formulas


def flop_counter() -> Any:
    """A `FlopCounterMode` (no display) that also counts CPU attention."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping=_attention_formulas())


@contextlib.contextmanager
def _tower_meter(backbone: Any, counter: Any, totals: dict[str, int]) -> Iterator[None]:
    """Add the FLOPs counted during each call of encode_image / encode_text to totals[vision / text]."""
    originals = {"vision": backbone.encode_image, "text": backbone.encode_text}

    def metered(part: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            before = counter.get_total_flops()
            result = originals[part](*args, **kwargs)
            totals[part] += counter.get_total_flops() - before
            return result

        return call

    backbone.encode_image, backbone.encode_text = metered("vision"), metered("text")
    try:
        yield
    finally:
        del backbone.encode_image, backbone.encode_text  # back to the class's methods


def count_forward(model: Any, hsi: Any, aux: Any, amp: Any = contextlib.nullcontext) -> dict[str, float]:
    """FLOPs per sample of `model(hsi, aux)`: total, vision tower, text tower, the rest, attention.

    `amp` is a context-manager factory (bf16 autocast on CUDA); the counts do not depend on it.
    """
    totals = {"vision": 0, "text": 0}
    counter = flop_counter()
    with amp(), counter, _tower_meter(model.backbone, counter, totals):
        model(hsi, aux)
    total = counter.get_total_flops()
    attention = sum(n for op, n in counter.get_flop_counts()["Global"].items() if "attention" in str(op))
    batch = hsi.shape[0]
    return {
        "total": total / batch,
        "vision": totals["vision"] / batch,
        "text": totals["text"] / batch,
        "rest": (total - totals["vision"] - totals["text"]) / batch,
        "attention": attention / batch,
    }
