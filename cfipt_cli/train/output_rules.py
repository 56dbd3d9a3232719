"""The rules of a run's output folder: a fresh run, --overwrite, and --resume with the saved settings.

- an existing `out` is replaced only with `overwrite`, and only when it is a cfipt model folder, an
  empty folder or a file: a foreign non-empty folder is never deleted;
- `resume` continues the run in `out` from its checkpoint with its saved options (runtime options
  device, amp and num_workers may change), and only on the scene it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfipt_cli.contracts import model as modelio
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import (
    CfiptError,
    CfiptUsageError,
    CheckpointError,
    InputNotFoundError,
    OutputExistsError,
)
from cfipt_cli.train.checkpoint import read_checkpoint_state
from cfipt_cli.train.config import RUNTIME_FIELDS, TrainConfig, differing_fields, flag_of
from cfipt_cli.train.data import scene_fingerprint


def check_fresh_output(out: Path, overwrite: bool) -> None:
    """Refuse an existing `out` without `overwrite`, and a foreign non-empty folder even with it."""
    if not out.exists():
        return
    is_model = modelio.is_model_folder(out)
    if not overwrite:
        hint = ""
        if is_model and not _is_complete(out):
            hint = " (an unfinished run: continue it with --resume)"
        raise OutputExistsError(f"{out} already exists{hint}; pass --overwrite to replace it")
    if out.is_dir() and not is_model and any(out.iterdir()):
        raise OutputExistsError(
            f"{out} is a folder that is not a cfipt model; refusing to replace it even with --overwrite, "
            "choose another --out"
        )


def _is_complete(model_dir: Path) -> bool:
    """Whether the model folder holds a finished run (an unreadable one counts as unfinished)."""
    try:
        return modelio.read_model_info(model_dir).complete
    except CfiptError:
        return False


def resume_config(out: Path, asked: dict[str, Any]) -> TrainConfig:
    """The saved configuration of the run in `out`, with the runtime options of `asked` applied.

    Args:
        out: the model folder to resume.
        asked: options the user gave (flags and config file), by TrainConfig field name.

    Raises:
        CfiptUsageError: a non-runtime option differs from the saved one.
        CheckpointError / InputNotFoundError: `out` is not a resumable model folder.
    """
    if not out.exists():
        raise InputNotFoundError(f"{out} does not exist: nothing to resume (drop --resume to start a run)")
    unknown = sorted(set(asked) - set(TrainConfig.field_names()))
    if unknown:
        raise CfiptUsageError(f"unknown training option(s) {', '.join(unknown)}")
    info = modelio.read_model_info(out)
    try:
        saved = TrainConfig.from_mapping(info.train_config)
    except CfiptUsageError as exc:
        raise CheckpointError(f"{out}/model.json holds an unusable training config: {exc}") from exc
    differ = differing_fields(saved, asked)
    if differ:
        given = ", ".join(f"{flag_of(n)} {asked[n]!r} (saved {getattr(saved, n)!r})" for n in differ)
        raise CfiptUsageError(
            f"--resume continues with the saved options, but {given}; drop them or train anew"
        )
    # amp not asked for: the new device decides again (the saved value is the one the old device used)
    runtime = {"amp": None, **{k: v for k, v in asked.items() if k in RUNTIME_FIELDS}}
    return TrainConfig.from_mapping(runtime, base=saved)


def check_same_scene(out: Path, scene: Scene) -> None:
    """CheckpointError unless the checkpoint in `out` was trained on `scene`'s training labels."""
    saved = read_checkpoint_state(out)
    if saved.get("scene_fingerprint") != scene_fingerprint(scene):
        raise CheckpointError(
            f"the checkpoint in {out} was trained on another scene (or other training labels) "
            f"than {scene.root}; train anew with --overwrite"
        )
