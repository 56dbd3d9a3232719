"""The CF-IPT network on a frozen open_clip CLIP (PyTorch; independent of files and GIS).

Importing the package registers its open_clip model configs (e.g. `cfipt-tiny`, a small ViT for tests
and CPU demos) with open_clip.

    from models import CFIPT, CFIPTConfig, cfipt_loss, count_parameters
    model = CFIPT(CFIPTConfig(hsi_bands=144, aux_bands=1, class_names=names))
    out = model(hsi, aux)                       # out.logits (B, K)
    loss, parts = cfipt_loss(out, targets)
"""

from typing import TYPE_CHECKING, Any

from models.backbone import (
    RandomBackboneWarning,
    list_clip_models,
    load_backbone,
    register_model_configs,
)
from models.cfipt import CFIPT, CFIPTOutput
from models.config import VARIANTS, CFIPTConfig, list_presets, load_preset
from models.losses import TRD_WEIGHT, cfipt_loss, crc_loss, trd_loss
from models.mamba import FusedKernelWarning

if TYPE_CHECKING:
    from models.params import ParameterReport, count_parameters

register_model_configs()


def __getattr__(name: str) -> Any:
    """`ParameterReport` and `count_parameters` load on first use, so that `python -m models.params`
    does not find its own module imported already (runpy's RuntimeWarning)."""
    if name in ("ParameterReport", "count_parameters"):
        from models import params

        return getattr(params, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = [
    "CFIPT",
    "TRD_WEIGHT",
    "VARIANTS",
    "CFIPTConfig",
    "CFIPTOutput",
    "FusedKernelWarning",
    "ParameterReport",
    "RandomBackboneWarning",
    "cfipt_loss",
    "count_parameters",
    "crc_loss",
    "list_clip_models",
    "list_presets",
    "load_backbone",
    "load_preset",
    "register_model_configs",
    "trd_loss",
]
