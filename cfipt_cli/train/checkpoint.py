"""The checkpoint of a training run: `checkpoint/` in the model folder, the resume state of its last
completed epoch (only `cfipt train` writes and reads it).

Layout::

    checkpoint/
      weights.safetensors     the trainable weights
      optimizer.safetensors   AdamW's per-parameter moments, keyed "<parameter name>/<moment>"
      state.json              format, epoch, step, log, created, scene and backbone fingerprints,
                              train_config, param_names, param_groups

The folder is replaced as a whole (a new folder renamed over the old one). Nothing unpickles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfipt_cli.contracts.model import load_tensors, load_weights, save_tensors
from cfipt_cli.errors import CheckpointError
from cfipt_cli.io.atomic import JsonDocument, atomic_dir

if TYPE_CHECKING:
    import torch

    from models import CFIPT

CHECKPOINT_FORMAT = "cfipt-checkpoint"
CHECKPOINT_DOCUMENT = JsonDocument(
    CHECKPOINT_FORMAT,
    CheckpointError,
    unreadable="{path} is corrupt ({exc}); train anew with --overwrite",
    foreign="{path} is not a cfipt checkpoint; train anew with --overwrite",
)
CHECKPOINT_DIR = "checkpoint"
CKPT_WEIGHTS = "weights.safetensors"
CKPT_OPTIMIZER = "optimizer.safetensors"
CKPT_STATE = "state.json"


def save_checkpoint(
    model_dir: Path, model: CFIPT, optimizer: torch.optim.Optimizer, names: list[str], state: dict[str, Any]
) -> None:
    """Write `model_dir/checkpoint/` as a whole (a new folder renamed over the old one).

    Args:
        model_dir: the model folder.
        model: its weights go to `weights.safetensors`.
        optimizer: its per-parameter tensors go to `optimizer.safetensors` keyed by parameter name.
        names: the names of the optimizer's parameters, in order.
        state: JSON-ready training state (epoch, step, log, fingerprints, config).
    """
    opt_state = optimizer.state_dict()
    tensors = {
        f"{names[index]}/{key}": value
        for index, per_param in opt_state["state"].items()
        for key, value in per_param.items()
    }
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt_state["param_groups"]]
    document = {"format": CHECKPOINT_FORMAT, **state, "param_names": names, "param_groups": groups}
    with atomic_dir(model_dir / CHECKPOINT_DIR, overwrite=True) as tmp:
        save_tensors(tmp / CKPT_WEIGHTS, model.trainable_state_dict())
        save_tensors(tmp / CKPT_OPTIMIZER, tensors)
        (tmp / CKPT_STATE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_checkpoint_state(model_dir: Path) -> dict[str, Any]:
    """The JSON part of a checkpoint; CheckpointError when missing or corrupt."""
    path = model_dir / CHECKPOINT_DIR / CKPT_STATE
    if not path.is_file():
        raise CheckpointError(
            f"{model_dir} has no resume state ({CHECKPOINT_DIR}/{CKPT_STATE}); train it anew"
        )
    return CHECKPOINT_DOCUMENT.read(path)


def restore_checkpoint(
    model_dir: Path, model: CFIPT, optimizer: torch.optim.Optimizer, names: list[str]
) -> dict[str, Any]:
    """Load weights and optimizer state of `model_dir/checkpoint/` into `model` and `optimizer`.

    Returns:
        The checkpoint's JSON state.
    """
    state = read_checkpoint_state(model_dir)
    ckpt = model_dir / CHECKPOINT_DIR
    if state.get("param_names") != names:
        raise CheckpointError(f"{ckpt} belongs to a different model (its parameters differ)")
    load_weights(model, load_tensors(ckpt / CKPT_WEIGHTS), ckpt / CKPT_WEIGHTS)
    tensors = load_tensors(ckpt / CKPT_OPTIMIZER)
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        name, _, field = key.rpartition("/")
        if name not in names:
            raise CheckpointError(f"{ckpt / CKPT_OPTIMIZER} holds state of an unknown parameter {name}")
        per_param.setdefault(names.index(name), {})[field] = value
    groups = state.get("param_groups")
    if not isinstance(groups, list) or len(groups) != 1:
        raise CheckpointError(f"{ckpt / CKPT_STATE} does not hold one optimizer parameter group")
    # JSON turned the betas tuple into a list; the one group holds every trainable parameter.
    group = {**groups[0], "params": list(range(len(names)))}
    if "betas" in group:
        group["betas"] = tuple(group["betas"])
    try:
        optimizer.load_state_dict({"state": per_param, "param_groups": [group]})
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{ckpt} does not fit this optimizer: {exc}") from exc
    return state
