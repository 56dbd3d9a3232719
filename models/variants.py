"""The paper's ablation variants of CF-IPT (Table "ablations" of method.md), each one switch.

Plain data without torch, so that the command line can list and check them without loading the network.
"""

from __future__ import annotations

__all__ = ["VARIANTS"]

VARIANTS: dict[str, str] = {
    "full": "the complete CF-IPT",
    "1": "P_sp and P_sa replaced by all-ones matrices (fusion and prompt guidance)",
    "2": "MFPG fusion (value residual + AMFF) replaced by channel concatenation",
    "3": "IAE replaced by parameter-free band-group averaging + bilinear upsampling",
    "4a": "vision prompts only (no text prompts, no interaction)",
    "4b": "text prompts only (no vision prompts, no interaction)",
    "4c": "prompts in both branches without interaction (no S2GPT)",
    "4d": "S2GPT Mamba replaced by a Transformer encoder layer",
}
