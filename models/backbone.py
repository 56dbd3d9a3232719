"""The frozen open_clip backbone: model names, weights (tag, local file or none) and fingerprints.

Importing this module (every network does) registers the package's own open_clip configs
(`model_configs/*.json`, e.g. `cfipt-tiny`) with open_clip, so they are created like any built-in name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import open_clip
import torch
from torch import nn

from models.checkpoint_files import load_checkpoint_file
from models.errors import ModelSettingError, WeightsUnavailableError

__all__ = [
    "MODEL_CONFIG_DIR",
    "RandomBackboneWarning",
    "freeze",
    "list_clip_models",
    "load_backbone",
    "register_model_configs",
    "state_fingerprint",
]

log = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"

# How to get weights onto an offline machine; appended to every weights error.
_OFFLINE_HINT = (
    "on an offline machine pass a local checkpoint file, pretrained=/path/to/open_clip_pytorch_model.bin "
    "(fetch it once on a connected machine, see the README section 'Backbones and weights'), "
    "or pretrained=None for random weights (tests and demos only)"
)


class RandomBackboneWarning(UserWarning):
    """The backbone has random weights: fine for tests and demos, useless for real maps."""


def register_model_configs(path: Path | str = MODEL_CONFIG_DIR) -> None:
    """Register open_clip model configs (a folder of JSON files or one file); idempotent per name."""
    path = Path(path)
    names = [p.stem for p in path.glob("*.json")] if path.is_dir() else [path.stem]
    if not all(name in open_clip.list_models() for name in names):
        open_clip.add_model_config(path)


def list_clip_models() -> list[str]:
    """open_clip model names usable as backbones (ViT CLIPs; ResNet/timm/HF towers are not supported)."""
    return [name for name in open_clip.list_models() if _is_supported_config(name)]


def _is_supported_config(name: str) -> bool:
    cfg = open_clip.get_model_config(name) or {}
    vision, text = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    return (
        isinstance(vision.get("layers", 0), int)
        and "timm_model_name" not in vision
        and not vision.get("attentional_pool", False)
        and "hf_model_name" not in text
        and not text.get("embed_cls", False)
        and "multimodal_cfg" not in cfg
    )


def _is_resnet(name: str) -> bool:
    """An open_clip ModifiedResNet visual tower (RN50, RN101, ...): its config gives layers per stage."""
    layers = ((open_clip.get_model_config(name) or {}).get("vision_cfg") or {}).get("layers")
    return isinstance(layers, (list, tuple))


def _check_model_name(name: str) -> None:
    import difflib

    if name in open_clip.list_models() and _is_supported_config(name):
        return
    if name in open_clip.list_models() and _is_resnet(name):
        raise ModelSettingError(
            f"clip_model={name!r} is a ResNet (open_clip ModifiedResNet) backbone: CF-IPT puts deep visual "
            "prompts into the layers of a ViT's transformer, which a ResNet has none of; use a ViT CLIP "
            "(e.g. ViT-B-32 or ViT-L-14, which RemoteCLIP also publishes)"
        )
    valid = list_clip_models()
    close = difflib.get_close_matches(name, valid, n=5, cutoff=0.4)
    hint = f"close names: {', '.join(close)}" if close else f"e.g. {', '.join(valid[:6])}"
    reason = (
        "is not a ViT CLIP with a transformer text tower" if name in open_clip.list_models() else "is unknown"
    )
    raise ModelSettingError(
        f"clip_model={name!r} {reason}; {hint} ({len(valid)} usable names, see open_clip.list_models())"
    )


def _cached_hf_file(download_hf_hub: str) -> str | None:
    """The weights file from the local Hugging Face cache, without touching the network; None if absent."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    model_id, filename = os.path.split(download_hf_hub)
    try:
        return str(
            hf_hub_download(model_id, filename or "open_clip_pytorch_model.bin", local_files_only=True)
        )
    except (OSError, ValueError):  # not cached (LocalEntryNotFoundError is an OSError)
        return None


def _download_host(cfg: dict[str, Any]) -> str:
    """Host that serves an open_clip weights entry (the Hugging Face endpoint or the plain URL's host)."""
    if cfg.get("hf_hub"):
        from huggingface_hub import constants

        return urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    return urlparse(str(cfg.get("url", ""))).hostname or ""


def _reachable(host: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to host:443 opens: answers in seconds where the hub client would retry
    for about a minute on an offline machine."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _download_tag(name: str, tag: str) -> str:
    """Path of the cached weights file of an open_clip tag, downloading it on first use."""
    cfg = open_clip.get_pretrained_cfg(name, tag)
    if cfg.get("hf_hub"):
        cached = _cached_hf_file(cfg["hf_hub"])
        if cached:
            return cached
    host = _download_host(cfg)
    if host and not _reachable(host):
        raise WeightsUnavailableError(
            f"the {name} weights pretrained={tag!r} are not cached and {host} cannot be reached "
            f"(offline?); {_OFFLINE_HINT}"
        )
    try:
        path = open_clip.download_pretrained(cfg)
    except (OSError, RuntimeError, ValueError) as err:  # offline, HTTP error, hub not installed
        raise WeightsUnavailableError(
            f"cannot download the {name} weights pretrained={tag!r} ({type(err).__name__}: {err}); {_OFFLINE_HINT}"
        ) from err
    if not path:
        raise WeightsUnavailableError(f"open_clip has no download for {name} tag {tag!r}; {_OFFLINE_HINT}")
    return str(path)


def _resolve_weights(name: str, pretrained: str) -> str:
    """A weights file for `pretrained` (existing file or open_clip tag), or a clear error."""
    if Path(pretrained).expanduser().is_file():
        return str(Path(pretrained).expanduser())
    tag_cfg = open_clip.get_pretrained_cfg(name, pretrained)
    if tag_cfg:
        if tag_cfg.get("quick_gelu", False) != (open_clip.get_model_config(name) or {}).get(
            "quick_gelu", False
        ):
            warnings.warn(
                f"weights {pretrained!r} were trained with quick_gelu={tag_cfg.get('quick_gelu', False)} but model "
                f"{name} differs; use the model name made for these weights (e.g. ViT-B-16-quickgelu for 'openai')",
                UserWarning,
                stacklevel=3,
            )
        return _download_tag(name, pretrained)
    tags = open_clip.list_pretrained_tags_by_model(name)
    known = f"known tags for {name}: {', '.join(tags)}" if tags else f"open_clip knows no tags for {name}"
    raise WeightsUnavailableError(
        f"pretrained={pretrained!r} is neither an existing file nor a weights tag ({known}); {_OFFLINE_HINT}"
    )


class _DropRandomInitNotice(logging.Filter):
    """open_clip logs 'initialized randomly' on the root logger; we load weights ourselves afterwards."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    notice = _DropRandomInitNotice()
    logging.getLogger().addFilter(notice)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(notice)


def freeze(model: nn.Module) -> nn.Module:
    """Every parameter requires_grad=False and the module in eval mode; returns it."""
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval()


def load_backbone(name: str, pretrained: str | None) -> nn.Module:
    """Create the open_clip model `name` with frozen weights.

    Args:
        name: open_clip model name, e.g. "ViT-B-16-quickgelu" or "cfipt-tiny".
        pretrained: An open_clip weights tag (downloaded and cached by open_clip on first use), a local
            checkpoint file, or None / "none" for random weights (a `RandomBackboneWarning`).

    Returns:
        The open_clip model, on CPU, float32, every parameter frozen, in eval mode.

    Raises:
        ModelSettingError: Unknown or unsupported model name.
        WeightsUnavailableError: The weights cannot be downloaded, found or read.
    """
    _check_model_name(name)
    if pretrained is not None and pretrained.strip().lower() in ("", "none"):
        pretrained = None
    path = _resolve_weights(name, pretrained) if pretrained is not None else None
    with _quiet_open_clip():
        model = open_clip.create_model(name, pretrained=None)
    if path is None:
        warnings.warn(
            f"backbone {name} has random weights (pretrained=None): only for tests and demos",
            RandomBackboneWarning,
            stacklevel=2,
        )
    else:
        load_checkpoint_file(model, name, path)
        log.info("loaded %s weights from %s", name, path)
    return freeze(model)


def state_fingerprint(module: nn.Module) -> str:
    """sha256 hex over a module's state dict: names, dtypes, shapes and bytes, in sorted name order."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}|{data.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


register_model_configs()  # at import: every network loads this module before it creates a backbone
