"""Backbone checkpoint files: read one in any published layout and fit it to the open_clip model.

The remote-sensing CLIPs publish open_clip weights in these layouts, all read here:

- a raw state dict, `torch.save(model.state_dict())`: RemoteCLIP-{RN50,ViT-B-32,ViT-L-14}.pt (its README
  loads it with a strict `load_state_dict`) and GeoRSCLIP's RS5M_ViT-{B-32,H-14}.pt;
- open_clip's training checkpoint `epoch_N.pt`, `{"epoch", "name", "state_dict", "optimizer", ...}` with
  `module.` before every key when trained under DDP: SkyCLIP's files (SkyScript's open_clip fork);
  a `model` key is read like `state_dict`;
- `.safetensors` (open_clip's hub files, any case of the suffix), and `.bin` / `.pt` pickles, read with
  weights_only=True so that loading never runs code from the file;
- OpenAI's original TorchScript archives (`~/.cache/clip/ViT-B-16.pt`), read as open_clip's
  `load_openai_model` reads them: `torch.jit.load(...).state_dict()`. Loading a TorchScript archive
  compiles its code but runs none of it, unless a class in it defines `__setstate__` (run while
  unpickling): such an archive is refused, so the guarantee above holds for these files too.

Fitting is strict: every key of the model must be in the file with its shape; the only differences
allowed are the harmless ones in `HARMLESS_EXTRA` (each with why), a 0-d vs 1-element `logit_scale`
and the custom-text naming of the text tower (`text.` before the classic keys, the same tensors).
Anything else is one error line that names the first missing, unexpected and misshapen keys and the
architecture checked against; a file is never resized (no position-embedding interpolation).
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import nn

from models.errors import WeightsUnavailableError

__all__ = ["HARMLESS_EXTRA", "fit_state_dict", "load_checkpoint_file", "read_state_dict"]

# Keys a published file may hold that the open_clip model does not, and why dropping them changes nothing.
HARMLESS_EXTRA: tuple[tuple[Callable[[str], bool], str], ...] = (
    (
        lambda key: key == "attn_mask" or key.endswith(".attn_mask"),
        "the causal mask of the text tower: a non-persistent buffer that open_clip rebuilds from the "
        "context length (older exports saved it)",
    ),
    (
        lambda key: key in ("input_resolution", "context_length", "vocab_size"),
        "metadata integers of OpenAI's TorchScript files; open_clip takes them from the model config",
    ),
    (
        lambda key: key.endswith("position_ids"),
        "an arange buffer of Hugging Face text towers (saved by transformers < 4.31), rebuilt on load",
    ),
    (
        lambda key: key == "logit_bias",
        "a SigLIP-style logit bias: CF-IPT's logits use the logit scale only, and one bias added to every "
        "class changes no softmax",
    ),
)

# The classic text-tower keys that open_clip's CustomTextCLIP stores under `text.` (same tensors).
_TEXT_TOWER = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection")

_UNREADABLE = (
    OSError,
    RuntimeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    EOFError,
    pickle.UnpicklingError,
    SafetensorError,
)


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive: a zip whose top folder holds constants.pkl (torch.save zips have none)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.count("/") == 1 and name.endswith("/constants.pkl") for name in archive.namelist())


def _torchscript_state_dict(path: Path) -> dict[str, Any]:
    """The tensors of a TorchScript archive, without running any code of it (see the module docstring)."""
    with zipfile.ZipFile(path) as archive:
        code = [n for n in archive.namelist() if "/code/" in n and n.endswith(".py")]
        runs_code = any(b"def __setstate__" in archive.read(name) for name in code)
    if runs_code:
        raise WeightsUnavailableError(
            f"pretrained={path}: a TorchScript archive whose classes define __setstate__, code that loading "
            "would run; pass its weights as a .safetensors or .pt state dict instead"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, not gone
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The state dict of a checkpoint file (raw, `state_dict` / `model` wrapped, `module.` prefixed).

    Raises:
        WeightsUnavailableError: the file cannot be read or holds no state dict.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            content: Any = load_file(str(path), device="cpu")
        elif _is_torchscript(path):
            content = _torchscript_state_dict(path)
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as err:
        raise WeightsUnavailableError(
            f"pretrained={path}: not a readable checkpoint ({type(err).__name__}: {str(err)[:200]}); "
            "pass a .pt, .bin or .safetensors file of open_clip weights (or OpenAI's TorchScript .pt)"
        ) from err
    for wrapper in ("state_dict", "model"):  # open_clip's epoch_N.pt; other training scripts
        if isinstance(content, Mapping) and isinstance(content.get(wrapper), Mapping):
            content = content[wrapper]
            break
    if not isinstance(content, Mapping) or not content or not all(isinstance(k, str) for k in content):
        raise WeightsUnavailableError(
            f"pretrained={path}: holds no state dict (a {type(content).__name__}); pass a file of open_clip "
            "weights (a state dict, or a dict with a 'state_dict' key)"
        )
    if all(key.startswith("module.") for key in content):  # saved from a DistributedDataParallel wrapper
        return {key[len("module.") :]: value for key, value in content.items()}
    return dict(content)


def _harmless(key: str) -> bool:
    return any(matches(key) for matches, _why in HARMLESS_EXTRA)


def _classic_text_names(state: dict[str, Any], expected: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """`text.token_embedding.weight` -> `token_embedding.weight` etc. when the model has the classic names."""
    if "token_embedding.weight" in state or "token_embedding.weight" not in expected:
        return state
    renamed = {}
    for key, value in state.items():
        bare = key[len("text.") :] if key.startswith("text.") else None
        renamed[bare if bare is not None and bare.startswith(_TEXT_TOWER) else key] = value
    return renamed


def _listing(keys: list[str], shown: int = 3) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def fit_state_dict(model: nn.Module, state: dict[str, Any], name: str, path: str | Path) -> dict[str, Any]:
    """`state` made to fit `model` exactly, or a WeightsUnavailableError naming every kind of mismatch.

    Args:
        model: the open_clip model of `name`.
        state: the file's state dict (`read_state_dict`).
        name: the open_clip model name (the `clip_model` the file is checked against).
        path: the file, for the message.
    """
    expected = model.state_dict()
    state = _classic_text_names(state, expected)
    if "logit_scale" in state and "logit_scale" in expected:
        scale = state["logit_scale"]
        if isinstance(scale, torch.Tensor) and scale.numel() == 1:
            state["logit_scale"] = scale.reshape(expected["logit_scale"].shape)
    fitted = {key: value for key, value in state.items() if key in expected or not _harmless(key)}
    missing = [key for key in expected if key not in fitted]
    unexpected = [key for key in fitted if key not in expected]
    misshapen = [
        f"{key}: file {tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}, "
        f"model {tuple(expected[key].shape)}"
        for key, value in fitted.items()
        if key in expected and not (isinstance(value, torch.Tensor) and value.shape == expected[key].shape)
    ]
    problems = [
        f"{len(keys)} {what} ({_listing(keys)})"
        for keys, what in (
            (missing, "missing keys"),
            (unexpected, "unexpected keys"),
            (misshapen, "shape mismatches"),
        )
        if keys
    ]
    if problems:
        raise WeightsUnavailableError(
            f"pretrained={path} does not fit clip_model={name!r}: {'; '.join(problems)}; pass the checkpoint "
            "of this architecture, or the open_clip name its weights were trained with (README: 'Backbones "
            "and weights')"
        )
    return fitted


def load_checkpoint_file(model: nn.Module, name: str, path: str | Path) -> None:
    """Read `path` and load it into `model` (strict after the allowed differences)."""
    fitted = fit_state_dict(model, read_state_dict(path), name, path)
    try:
        model.load_state_dict(fitted, strict=True)
    except _UNREADABLE as err:  # e.g. a dtype torch cannot copy; shapes and keys were checked above
        raise WeightsUnavailableError(
            f"pretrained={path}: cannot load into clip_model={name!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]})"
        ) from err
