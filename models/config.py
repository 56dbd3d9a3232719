"""`CFIPTConfig`: every setting of the CF-IPT network, and the dataset presets in `configs/*.json`.

Defaults follow `shared/spec/method.md`; the sizes the paper does not give (attention width d_a, the
bottlenecks of AMFF, IAE and the width carrier) are ours and chosen so that the trainable-parameter
count lands near the paper's (see README.md, "Trainable parameters").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import ModelSettingError
from models.iae import LAST_ACTIVATIONS
from models.variants import VARIANTS

__all__ = ["PRESET_DIR", "TEXT_PRECISIONS", "CFIPTConfig", "list_presets", "load_preset"]

PRESET_DIR = Path(__file__).parent / "configs"

TEXT_PRECISIONS = ("float32", "autocast")


def _unknown_name_error(kind: str, name: str, valid: list[str]) -> ModelSettingError:
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return ModelSettingError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


@dataclass(frozen=True, kw_only=True)
class CFIPTConfig:
    """Settings of one CF-IPT network.

    Attributes:
        hsi_bands: C, bands of the spectral source (HSI).
        aux_bands: D, bands of the spatial source (LiDAR DSM or SAR).
        class_names: The K class names, in logit order.
        patch_size: p, side of the square input patch.
        clip_model: open_clip model name (any ViT CLIP; `cfipt-tiny` for tests and demos).
        pretrained: open_clip weights tag, a local checkpoint file path, or None for random weights.
        n_prompt: n, prompt tokens per layer and branch (even: S2PtTrans splits them in halves).
        depth: L, number of prompted layers (capped at the backbone's layer count).
        variant: "full" or an ablation of `VARIANTS`.
        template: Text template before the class name; its tokens initialise the first text prompt.
        attn_dim: d_a, width of the spatial attention of IS2PG.
        amff_reduction: Channel-attention bottleneck of AMFF is (C + D) // amff_reduction (at least 4).
        amff_width: Bottleneck width of AMFF's 1x1/3x3/5x5 branches.
        iae_channels: Widths after IAE layers 1..3 (layer 4 gives 3 channels).
        iae_last_activation: "gelu" (the paper: CLIP's input stays >= -0.17) or "none" (the last layer
            ends with its BatchNorm, so the image can span CLIP's normalised range, about -1.8 .. 2.1).
        bilinear_aux_share: Variant 3 only: weight of the LiDAR/SAR mean in each of the 3 channels
            (the rest is a third of the HSI bands' mean), so that the ablation keeps both sources.
        d_state: N, state size of the S2GPT selective scan.
        d_conv: Kernel of the S2GPT depthwise (causal) convolution.
        expand: Inner width of S2GPT = expand * n_prompt.
        carrier_rank: Rank of the linear map carrying a prompt to the other branch's width.
        transformer_heads: Attention heads of the variant-4d Transformer layer.
        text_precision: "float32" (default): under autocast the text tower still runs in float32,
            because the class texts differ only in their last tokens and bf16 rounding in the tower is
            as large as the differences between them (it changed the argmax of nearly every pixel of
            an untrained model); "autocast": the text tower follows autocast (about 15 % of the
            FLOPs of ViT-B-16, faster, less exact).
        cut_text: Cut text sequences after the longest EOT token (exact, faster).
        share_prefix: Run the class-independent start of the class texts (SOS and prompts) once per
            sample, and the towers' last blocks at the pooled token only (exact, faster).
    """

    hsi_bands: int
    aux_bands: int
    class_names: tuple[str, ...]
    patch_size: int = 11
    clip_model: str = "ViT-B-16-quickgelu"
    pretrained: str | None = "openai"
    n_prompt: int = 6
    depth: int = 9
    variant: str = "full"
    template: str = "a multisource fusion patch of"
    attn_dim: int = 64
    amff_reduction: int = 16
    amff_width: int = 8
    iae_channels: tuple[int, int, int] = (32, 16, 8)
    iae_last_activation: str = "gelu"
    bilinear_aux_share: float = 0.5
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    carrier_rank: int = 64
    transformer_heads: int = 2
    text_precision: str = "float32"
    cut_text: bool = True
    share_prefix: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(n) for n in self.class_names))
        object.__setattr__(self, "iae_channels", tuple(int(c) for c in self.iae_channels))
        if isinstance(self.pretrained, str) and self.pretrained.strip().lower() in ("", "none"):
            object.__setattr__(self, "pretrained", None)
        self._validate()

    def _validate(self) -> None:
        positive = [
            "hsi_bands",
            "aux_bands",
            "patch_size",
            "n_prompt",
            "depth",
            "attn_dim",
            "amff_reduction",
            "amff_width",
            "d_state",
            "d_conv",
            "expand",
            "carrier_rank",
            "transformer_heads",
        ]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelSettingError(f"model setting {name} must be a positive integer, not {value!r}")
        if self.n_prompt % 2:
            raise ModelSettingError(
                f"n_prompt must be even (S2PtTrans splits it in halves), not {self.n_prompt}"
            )
        if self.variant not in VARIANTS:
            raise _unknown_name_error("model variant", self.variant, list(VARIANTS))
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ModelSettingError("class_names must be a non-empty list of distinct names")
        if len(self.iae_channels) != 3 or min(self.iae_channels) < 1:
            raise ModelSettingError(f"iae_channels must be 3 positive widths, not {list(self.iae_channels)}")
        if self.iae_last_activation not in LAST_ACTIVATIONS:
            raise _unknown_name_error(
                "iae_last_activation", str(self.iae_last_activation), list(LAST_ACTIVATIONS)
            )
        if self.text_precision not in TEXT_PRECISIONS:
            raise _unknown_name_error("text_precision", str(self.text_precision), list(TEXT_PRECISIONS))
        share = self.bilinear_aux_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 <= share <= 1.0:
            raise ModelSettingError(
                f"model setting bilinear_aux_share must be a number in [0, 1], not {share!r}"
            )
        if (self.expand * self.n_prompt) % self.transformer_heads:
            raise ModelSettingError(
                f"transformer_heads ({self.transformer_heads}) must divide expand * n_prompt "
                f"({self.expand * self.n_prompt})"
            )

    @property
    def n_classes(self) -> int:
        """K, the number of classes."""
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every setting (tuples as lists); `from_dict` reverses it."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["class_names"] = list(self.class_names)
        out["iae_channels"] = list(self.iae_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CFIPTConfig:
        """Build from `to_dict()` output; unknown keys are an error that lists the valid ones."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ModelSettingError(
                f"unknown model setting(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
            )
        return cls(**data)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> CFIPTConfig:
        """A dataset preset (`houston`, `muufl`, `augsburg`) with optional overrides."""
        settings = {k: v for k, v in load_preset(name).items() if k != "paper"}
        settings.update(overrides)
        return cls.from_dict(settings)

    def replace(self, **changes: Any) -> CFIPTConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)


def list_presets() -> list[str]:
    """Names of the dataset presets shipped in models/configs."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw JSON of a dataset preset: CFIPTConfig settings plus a "paper" block (reference figures)."""
    path = PRESET_DIR / f"{name.lower()}.json"
    if not path.is_file():
        raise _unknown_name_error("dataset preset", name, list_presets())
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
