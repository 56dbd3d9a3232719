"""The CF-IPT network on a frozen open_clip CLIP (PyTorch; independent of files and GIS).

    from models import CFIPT, CFIPTConfig, cfipt_loss, count_parameters
    model = CFIPT(CFIPTConfig(hsi_bands=144, aux_bands=1, class_names=names))
    out = model(hsi, aux)                       # out.logits (B, K)
    loss, parts = cfipt_loss(out, targets)

The names below load on first use (PEP 562), so that `import models.variants` (plain data, read by the
command line's help) imports no torch, and `python -m models.params` does not find its own module
imported already. Loading `models.backbone` (every network does) registers the package's open_clip
model configs (e.g. `cfipt-tiny`, a small ViT for tests and CPU demos) with open_clip.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.backbone import RandomBackboneWarning, list_clip_models, load_backbone, register_model_configs
    from models.cfipt import CFIPT, CFIPTOutput
    from models.config import CFIPTConfig, list_presets, load_preset
    from models.fused_kernels import FusedKernelWarning
    from models.losses import TRD_WEIGHT, cfipt_loss, crc_loss, trd_loss
    from models.params import ParameterReport, count_parameters
    from models.variants import VARIANTS

# Public name -> the module that defines it.
_EXPORTS = {
    "CFIPT": "models.cfipt",
    "CFIPTOutput": "models.cfipt",
    "CFIPTConfig": "models.config",
    "list_presets": "models.config",
    "load_preset": "models.config",
    "FusedKernelWarning": "models.fused_kernels",
    "ParameterReport": "models.params",
    "count_parameters": "models.params",
    "RandomBackboneWarning": "models.backbone",
    "list_clip_models": "models.backbone",
    "load_backbone": "models.backbone",
    "register_model_configs": "models.backbone",
    "TRD_WEIGHT": "models.losses",
    "cfipt_loss": "models.losses",
    "crc_loss": "models.losses",
    "trd_loss": "models.losses",
    "VARIANTS": "models.variants",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use (and keep it, so that this runs once per name)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
