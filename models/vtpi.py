"""V-TPI, phase 2 of CF-IPT: learnable deep prompts of both branches and their interaction.

For every prompted layer i < L:  P_VT_i = P_V_i + S2GPT_t2v(P_T_i),  P_TV_i = P_T_i + S2GPT_v2t(P_V_i),
all layers at once (the two S2GPT modules are shared by the layers). The ablations swap parts:
`NoPrompts` removes a branch's prompts (4a, 4b), `NoInteraction` removes S2GPT (4a-4c).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["VTPI", "DeepPrompts", "NoPrompts"]


class DeepPrompts(nn.Module):
    """Prompts of one branch for the first L layers: a (L, n, width) parameter.

    Args:
        depth: L.
        n_tokens: n.
        width: The branch's transformer width.
        first_layer: Optional (n, width) initial value of layer 0 (the template's token embeddings);
            the other layers start N(0, 0.02) as in MaPLe.
    """

    def __init__(self, depth: int, n_tokens: int, width: int, first_layer: Tensor | None = None) -> None:
        super().__init__()
        prompts = torch.randn(depth, n_tokens, width) * 0.02
        if first_layer is not None:
            prompts[0] = first_layer.detach().to(prompts.dtype)
        self.prompts = nn.Parameter(prompts)

    def forward(self) -> Tensor:
        """(L, n, width)."""
        return self.prompts


class NoPrompts(nn.Module):
    """A branch without prompts (variants 4a and 4b)."""

    def forward(self) -> None:
        """Nothing: the tower runs unprompted."""
        return None


class VTPI(nn.Module):
    """Vision-text prompt interaction.

    Args:
        vision: `DeepPrompts` of the vision branch or `NoPrompts`.
        text: `DeepPrompts` of the text branch or `NoPrompts`.
        text_to_vision: S2GPT carrying text prompts to the vision width, or `NoInteraction`.
        vision_to_text: S2GPT carrying vision prompts to the text width, or `NoInteraction`.
    """

    def __init__(
        self, vision: nn.Module, text: nn.Module, text_to_vision: nn.Module, vision_to_text: nn.Module
    ):
        super().__init__()
        self.vision = vision
        self.text = text
        self.text_to_vision = text_to_vision
        self.vision_to_text = vision_to_text

    def forward(self, p_sp: Tensor, p_sa: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """P_sp (B, C, C), P_sa (B, HW, HW) -> (P_VT, P_TV).

        Each is None (branch unprompted), (L, n, width) (shared by the batch) or (B, L, n, width).
        """
        p_v, p_t = self.vision(), self.text()
        p_vt = None if p_v is None else p_v + self.text_to_vision(p_t, p_sp, p_sa)
        p_tv = None if p_t is None else p_t + self.vision_to_text(p_v, p_sp, p_sa)
        return p_vt, p_tv
