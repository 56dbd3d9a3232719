"""The errors of the `models` package, in model terms.

`models` knows nothing of files, GIS or the command line. Its errors name model settings as a Python
caller writes them (`pretrained='openai'`, `clip_model='ViT-B-16'`); a front end maps the classes to
its own reporting (the cfipt CLI: exit codes and its option names, `cfipt_cli.errors.from_model_error`).
Each class also inherits the builtin it refines, so callers may catch `ValueError` and the like.
"""

from __future__ import annotations

__all__ = [
    "ModelError",
    "ModelInputError",
    "ModelSettingError",
    "WeightsMismatchError",
    "WeightsUnavailableError",
]


class ModelError(Exception):
    """Base of every expected failure of the models package."""


class ModelSettingError(ModelError, ValueError):
    """A setting the network cannot take: an unknown name, a value out of range, a patch size the
    input adaptation encoder cannot plan for, an unsupported backbone."""


class ModelInputError(ModelError, ValueError):
    """Tensors of the wrong shape for the configured network."""


class WeightsUnavailableError(ModelError, LookupError):
    """The backbone weights cannot be had: not cached and no network, an unknown tag, an unreadable file."""


class WeightsMismatchError(ModelError, ValueError):
    """Trained weights that do not fit this network (missing, unexpected or misshapen entries)."""
