"""Fine-tuning from a trained model (`cfipt train SCENE --init-from MODEL`): its weights, the scene's classes.

The new run starts from the trainable weights of MODEL (its model.safetensors) instead of a fresh
initialisation. What must match, checked before the backbone loads (one line each): MODEL is a
finished cfipt model folder, its band layout is the scene's, and the settings that shape the weights
(backbone name, patch size, prompt length and depth, variant) are the run's; once the backbone is
built, its fingerprint must be the one MODEL recorded.

A fine-tune continues MODEL, so `cfipt train` takes those settings, the backbone weights and their
licence from MODEL's model.json for every one the user did not give (on the command line or in the
--config file; `inherited_settings`); one the user gives must still match. Weights taken from MODEL
that were a checkpoint file are checked as predict checks them: still at the recorded path, with the
recorded sha256.

The class table is the scene's, matched to MODEL's by name (ids may differ; names compare as
everywhere in cfipt, `io.classes.name_key`: case and runs of blanks ignored). Nothing trainable in
the network is indexed by class (`models`): the learnt prompts are shared by every class, and what is
class-specific is the frozen tokens of the class text "a multisource fusion patch of [CLASS]." built
from the name. So a class MODEL has keeps exactly its trained logit (same weights, same text: the tokenizer
lower-cases it, so 'Grass' and 'grass' are one text), a new
class starts from its template as in a fresh model, and a class of MODEL that the scene lacks is
dropped with a warning. Should a trainable tensor ever be sized by the classes, loading refuses it
(CheckpointError) rather than guess.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfipt_cli.contracts import model as modelio
from cfipt_cli.errors import CfiptUsageError, CheckpointError
from cfipt_cli.io.classes import name_key
from cfipt_cli.io.files import sha256_file
from cfipt_cli.log import get_logger
from cfipt_cli.train.config import flag_of

if TYPE_CHECKING:
    from cfipt_cli.contracts.scene import Scene
    from models import CFIPT

log = get_logger(__name__)

# model_config keys that shape the trainable weights, with the option that sets each
SHAPING = {
    "clip_model": "--clip",
    "patch_size": "--patch-size",
    "n_prompt": "--prompt-length",
    "depth": "--prompt-depth",
    "variant": "--variant",
}
# TrainConfig field of each SHAPING key
SHAPING_FIELDS = {
    "clip_model": "clip_model",
    "patch_size": "patch_size",
    "n_prompt": "prompt_length",
    "depth": "prompt_depth",
    "variant": "variant",
}


@dataclass(frozen=True)
class InitSource:
    """A model to start from, checked against the run (`check_init_source`)."""

    info: modelio.ModelInfo

    @property
    def weights(self) -> Path:
        return self.info.root / modelio.WEIGHTS_NAME

    def record(self) -> dict[str, Any]:
        """What model.json records under `init_from`: the folder, its weights' sha256, its classes."""
        return {
            "path": str(self.info.root.resolve()),
            "sha256": sha256_file(self.weights),
            "classes": self.info.classes.to_json(),
        }

    def apply(self, model: CFIPT, class_names: list[str]) -> None:
        """Load MODEL's trainable weights into `model` (built for `class_names`), after the backbone check."""
        modelio.check_fingerprint(
            model,
            self.info.meta["backbone"]["fingerprint"],
            self.info.root,
            "--init-from needs the backbone weights it was trained with: pass them with --pretrained",
        )
        modelio.load_weights(model, modelio.load_tensors(self.weights), self.weights)
        old = self.info.classes.names
        old_keys, scene_keys = {name_key(n) for n in old}, {name_key(n) for n in class_names}
        dropped = [name for name in old if name_key(name) not in scene_keys]
        if dropped:
            log.warning("classes %s of %s are not in the scene; they are dropped", dropped, self.info.root)
        new = [name for name in class_names if name_key(name) not in old_keys]
        log.info(
            "starting from %s: %d classes kept, %d new (from their template)",
            self.info.root,
            len(class_names) - len(new),
            len(new),
        )


def check_init_source(path: str | Path, scene: Scene, run_model_config: dict[str, Any]) -> InitSource:
    """MODEL read and checked against the scene and the run's model config (`model_config_for`).

    Raises:
        InputNotFoundError: no such folder.
        CheckpointError: not a cfipt model folder, an unfinished run, another band layout (exit 1).
        CfiptUsageError: a setting that shapes the weights differs from MODEL's (exit 2).
    """
    root = Path(path)
    info = _read_finished_model(root)
    info.check_scene(scene)
    recorded = info.model_config
    differ = [key for key in SHAPING if recorded.get(key) != run_model_config.get(key)]
    if differ:
        shown = ", ".join(
            f"{SHAPING[k]} {run_model_config.get(k)!r} (the model's: {recorded.get(k)!r})" for k in differ
        )
        raise CfiptUsageError(f"--init-from {root} was trained with other settings: {shown}; use the model's")
    return InitSource(info)


def _read_finished_model(root: Path) -> modelio.ModelInfo:
    """MODEL's description; InputNotFoundError / CheckpointError when it is no finished cfipt model."""
    if root.exists() and not modelio.is_model_folder(root):
        raise CheckpointError(
            f"--init-from {root} is not a cfipt model folder (no cfipt {modelio.META_NAME})"
        )
    info = modelio.read_model_info(root)
    if not info.complete:
        raise CheckpointError(
            f"--init-from {root} is an unfinished training run; finish it with --resume or start from another"
        )
    return info


def inherited_settings(path: str | Path, given: Collection[str]) -> dict[str, Any]:
    """The settings a fine-tune from MODEL takes from its model.json: those of SHAPING, the backbone
    weights (`pretrained`) and their licence, each one not in `given` (TrainConfig field names).

    Raises:
        InputNotFoundError, CheckpointError: MODEL is no finished cfipt model folder; its backbone
            checkpoint file changed since training (exit 1).
        WeightsUnavailableError: its backbone checkpoint file is gone (exit 1).
    """
    root = Path(path)
    info = _read_finished_model(root)
    recorded = info.model_config
    values: dict[str, Any] = {SHAPING_FIELDS[key]: recorded[key] for key in SHAPING if key in recorded}
    # model_config holds the resolved weights source: a file's absolute path (usable from any working
    # directory), a tag, or None for random weights
    values["pretrained"] = recorded.get("pretrained") or "none"
    licence = info.train_config.get("weights_licence")
    if licence:
        values["weights_licence"] = licence
    taken = {name: value for name, value in values.items() if name not in given}
    if "pretrained" in taken:
        modelio.check_recorded_checkpoint(info)  # the file predict would rebuild the backbone from
    if taken:
        shown = ", ".join(f"{flag_of(name)} {value!r}" for name, value in taken.items())
        log.info("--init-from %s: %s taken from the model", root, shown)
    return taken


def check_init_request(init_from: str | Path | None, resume: bool) -> None:
    """Usage errors of --init-from that need nothing read."""
    if init_from is not None and resume:
        raise CfiptUsageError(
            "--init-from starts a new run from a model and --resume continues one: give one of them"
        )
