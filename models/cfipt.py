"""`CFIPT`: the assembled network, MFPG -> IAE -> prompted frozen CLIP (with V-TPI) -> logits.

    F_f, P_sp, P_sa = MFPG(X_H, X_L)              phase 1 (trainable)
    image           = IAE(F_f)                     (B, 3, H, W) of the backbone
    P_VT, P_TV      = V-TPI(P_sp, P_sa)            deep prompts + S2GPT (trainable)
    logits          = scale * cos(CLIP_v(image; P_VT), CLIP_t(class texts; P_TV))   (frozen CLIP)

Ablation variants are chosen at construction by swapping modules (see `models.variants.VARIANTS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import open_clip
import torch
from torch import Tensor, nn

from models.backbone import freeze, load_backbone, state_fingerprint
from models.config import CFIPTConfig
from models.errors import ModelInputError, WeightsMismatchError
from models.iae import IAE, BilinearAdapter
from models.mfpg import MFPG
from models.precision import float32_region
from models.prompted_clip import PromptedCLIP
from models.s2gpt import NoInteraction, S2GPTMamba, S2GPTSizes, S2GPTTransformer
from models.vtpi import VTPI, DeepPrompts, NoPrompts

__all__ = ["CFIPT", "CFIPTOutput"]

BACKBONE_PREFIX = "backbone."


@dataclass
class CFIPTOutput:
    """Model output.

    Attributes:
        logits: (B, K), CLIP's logit scale times the image-text cosine similarities.
        image_features: (B, E), L2-normalised.
        text_features: (B, K, E), L2-normalised (an expanded view when shared by the batch).
    """

    logits: Tensor
    image_features: Tensor
    text_features: Tensor


def _build_vtpi(cfg: CFIPTConfig, clip: PromptedCLIP) -> VTPI:
    depth, n = clip.depth, cfg.n_prompt
    vision: nn.Module = NoPrompts() if cfg.variant == "4b" else DeepPrompts(depth, n, clip.vision_width)
    text: nn.Module = (
        NoPrompts()
        if cfg.variant == "4a"
        else DeepPrompts(depth, n, clip.text_width, clip.template_embedding())
    )
    if cfg.variant in ("4a", "4b", "4c"):
        return VTPI(vision, text, NoInteraction(), NoInteraction())
    pixels, bands = cfg.patch_size**2, cfg.hsi_bands
    sizes = S2GPTSizes(n, clip.text_width, clip.vision_width, pixels, bands, cfg.expand, cfg.carrier_rank)
    if cfg.variant == "4d":
        t2v: nn.Module = S2GPTTransformer(sizes, cfg.transformer_heads)
        v2t: nn.Module = S2GPTTransformer(sizes.reversed(), cfg.transformer_heads)
    else:
        t2v = S2GPTMamba(sizes, cfg.d_state, cfg.d_conv)
        v2t = S2GPTMamba(sizes.reversed(), cfg.d_state, cfg.d_conv)
    return VTPI(vision, text, t2v, v2t)


class CFIPT(nn.Module):
    """CF-IPT on a frozen open_clip backbone.

    Args:
        config: All settings.
        clip_model: An already created open_clip model for `config.clip_model` to use instead of
            loading one (benchmarks and tests share one backbone); it is frozen in place.
    """

    def __init__(self, config: CFIPTConfig, clip_model: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        clip = (
            freeze(clip_model)
            if clip_model is not None
            else load_backbone(config.clip_model, config.pretrained)
        )
        self.backbone = PromptedCLIP(
            clip,
            open_clip.get_tokenizer(config.clip_model),
            config.class_names,
            config.n_prompt,
            config.depth,
            config.template,
            cut_text=config.cut_text,
            share_prefix=config.share_prefix,
        )
        channels = config.hsi_bands + config.aux_bands
        self.mfpg = MFPG(
            config.hsi_bands,
            config.aux_bands,
            config.attn_dim,
            config.amff_reduction,
            config.amff_width,
            ones_matrices=config.variant == "1",
            concat_only=config.variant == "2",
        )
        image_size = self.backbone.image_size
        self.iae: nn.Module = (
            BilinearAdapter(config.hsi_bands, config.aux_bands, image_size, config.bilinear_aux_share)
            if config.variant == "3"
            else IAE(channels, config.patch_size, image_size, config.iae_channels, config.iae_last_activation)
        )
        self.vtpi = _build_vtpi(config, self.backbone)

    @property
    def depth(self) -> int:
        """Number of prompted layers actually used (config.depth capped at the backbone's layers)."""
        return self.backbone.depth

    def train(self, mode: bool = True) -> CFIPT:
        """Set training mode; the frozen backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def _check_inputs(self, hsi: Tensor, aux: Tensor) -> None:
        c, d, p = self.config.hsi_bands, self.config.aux_bands, self.config.patch_size
        if hsi.dim() != 4 or tuple(hsi.shape[1:]) != (c, p, p):
            raise ModelInputError(f"HSI patches must be (batch, {c}, {p}, {p}), not {tuple(hsi.shape)}")
        if aux.dim() != 4 or tuple(aux.shape[1:]) != (d, p, p) or aux.shape[0] != hsi.shape[0]:
            raise ModelInputError(
                f"auxiliary patches must be ({hsi.shape[0]}, {d}, {p}, {p}), not {tuple(aux.shape)}"
            )

    def forward(self, hsi: Tensor, aux: Tensor) -> CFIPTOutput:
        """Per-class logits of a batch of patches.

        Args:
            hsi: (B, C, p, p) normalised HSI patches.
            aux: (B, D, p, p) normalised LiDAR/SAR patches.
        """
        self._check_inputs(hsi, aux)
        fused, p_sp, p_sa = self.mfpg(hsi, aux)
        p_vt, p_tv = self.vtpi(p_sp, p_sa)
        image_features = self.backbone.encode_image(self.iae(fused), p_vt)
        if self.config.text_precision == "float32":  # see CFIPTConfig.text_precision
            with float32_region(hsi, exact=False) as lift:  # TF32 allowed: a whole tower
                text_features = self.backbone.encode_text(None if p_tv is None else lift(p_tv))
        else:
            text_features = self.backbone.encode_text(p_tv)
        if text_features.dim() == 2:
            text_features = text_features.expand(hsi.shape[0], -1, -1)
        with float32_region(image_features) as lift:  # float32 logits under autocast (models.precision)
            image_features = lift(image_features)
            text_features = lift(text_features).to(image_features.dtype)
            similarity = torch.einsum("be,bke->bk", image_features, text_features)
            logits = self.backbone.logit_scale.to(similarity.dtype) * similarity
        return CFIPTOutput(logits, image_features, text_features)

    # ---------------------------------------------------------------- weights
    def trainable_state_dict(self) -> dict[str, Tensor]:
        """Trainable parameters and the buffers of trainable modules (BatchNorm statistics)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(BACKBONE_PREFIX)}

    def load_trainable_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load `trainable_state_dict()` output; strict on names and shapes.

        Raises:
            WeightsMismatchError: Missing, unexpected or misshapen entries.
        """
        expected = self.trainable_state_dict()
        missing = sorted(set(expected) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(expected))
        if missing or unexpected:
            raise WeightsMismatchError(
                f"trained weights do not match this model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        wrong = [k for k, v in state_dict.items() if tuple(v.shape) != tuple(expected[k].shape)]
        if wrong:
            raise WeightsMismatchError(
                f"trained weights have wrong shapes for {wrong[:5]} (different data or settings?)"
            )
        self.load_state_dict(dict(state_dict), strict=False)

    def backbone_fingerprint(self) -> str:
        """sha256 hex of the frozen backbone's weights (names, dtypes, shapes, bytes)."""
        return state_fingerprint(self.backbone.clip)
