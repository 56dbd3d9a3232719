"""The model folder written by `cfipt train` and read by `cfipt predict`.

Layout::

    model/
      model.safetensors   trainable weights only (CFIPT.trainable_state_dict()), safetensors
      model.json          format, cfipt version, status ("complete" / "incomplete"), epochs done,
                          backbone (open_clip name, weights source, sha256 fingerprint, init seed),
                          model_config (CFIPTConfig as a dict), classes (class table, logit k = k-th
                          entry), band_layout / band_roles, normalisation mean/std, patch_size,
                          train_config (resolved TrainConfig), scene (path, fingerprint, pixel counts),
                          dropped_classes, summary (last epoch's figures)
      train_log.jsonl     one JSON record per completed epoch
      checkpoint/         resume state of the last completed epoch (see `save_checkpoint`)

Nothing here unpickles: weights and optimizer moments are safetensors, everything else is JSON.

Stable API for prediction::

    model, info = load_model(model_dir, device)      # CFIPT in eval mode on `device`, ModelInfo
    info.check_scene(scene)                          # CheckpointError if the band layout differs
    info.classes, info.class_ids                     # ClassTable; logit index k -> info.class_ids[k]
    info.n_hsi, info.n_aux, info.mean, info.std, info.patch_size

`load_model` fails with CheckpointError on a missing, corrupt, foreign or unfinished model folder and
when the backbone it rebuilds does not hash to the fingerprint recorded at training time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli import __version__
from cfipt_cli.errors import (
    CfiptError,
    CheckpointError,
    InputNotFoundError,
    WeightsUnavailableError,
    from_model_error,
)
from cfipt_cli.io.atomic import atomic_dir, atomic_file, read_json_document
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import utc_now
from cfipt_cli.io.schema import Document

if TYPE_CHECKING:
    import torch

    from cfipt_cli.contracts.scene import Scene
    from models import CFIPT

MODEL_FORMAT = "cfipt-model"
# 2: the network of models/ changed (fidelity fixes): weights of a version-1 folder do not fit it.
MODEL_FORMAT_VERSION = 2
CHECKPOINT_FORMAT = "cfipt-checkpoint"
WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
LOG_NAME = "train_log.jsonl"
CHECKPOINT_DIR = "checkpoint"
CKPT_WEIGHTS = "weights.safetensors"
CKPT_OPTIMIZER = "optimizer.safetensors"
CKPT_STATE = "state.json"

STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"


@dataclass
class ModelInfo:
    """What a model folder says about its model, read from `model.json`."""

    root: Path
    meta: dict[str, Any]

    @property
    def classes(self) -> ClassTable:
        """The class table; logit index k is the k-th class (ids ascending)."""
        return ClassTable.from_json(self.meta["classes"])

    @property
    def class_ids(self) -> list[int]:
        """Class id of each logit index."""
        return self.classes.ids

    @property
    def band_layout(self) -> list[str]:
        """Source of each stack band the model was trained on, e.g. ['hsi', ..., 'lidar']."""
        return [str(b) for b in self.meta["band_layout"]]

    @property
    def n_hsi(self) -> int:
        return int(self.meta["band_roles"]["hsi"])

    @property
    def n_aux(self) -> int:
        return int(self.meta["band_roles"]["aux"])

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.meta["normalisation"]["mean"], dtype=np.float32)

    @property
    def std(self) -> np.ndarray:
        return np.asarray(self.meta["normalisation"]["std"], dtype=np.float32)

    @property
    def patch_size(self) -> int:
        return int(self.meta["patch_size"])

    @property
    def model_config(self) -> dict[str, Any]:
        return dict(self.meta["model_config"])

    @property
    def train_config(self) -> dict[str, Any]:
        return dict(self.meta["train_config"])

    @property
    def complete(self) -> bool:
        return self.meta.get("status") == STATUS_COMPLETE

    @property
    def epochs_done(self) -> int:
        return int(self.meta.get("epochs_done", 0))

    def check_scene(self, scene: Scene) -> None:
        """Fail with CheckpointError when `scene`'s bands are not the ones the model was trained on."""
        if scene.band_layout != self.band_layout or (scene.n_hsi, scene.n_aux) != (self.n_hsi, self.n_aux):
            raise CheckpointError(
                f"{self.root} was trained on {_describe_layout(self.band_layout)} but scene {scene.root} "
                f"has {_describe_layout(scene.band_layout)}; use a model trained on this kind of scene"
            )


def _describe_layout(layout: list[str]) -> str:
    counts: dict[str, int] = {}
    for source in layout:
        counts[source] = counts.get(source, 0) + 1
    return " + ".join(f"{n} {source}" for source, n in counts.items()) + " bands"


def is_model_folder(path: str | Path) -> bool:
    """True when `path` is a folder with a cfipt `model.json` (complete or not)."""
    meta_path = Path(path) / META_NAME
    if not meta_path.is_file():
        return False
    try:
        return json.loads(meta_path.read_text(encoding="utf-8")).get("format") == MODEL_FORMAT
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def read_model_info(model_dir: str | Path) -> ModelInfo:
    """Open `model_dir/model.json`; CheckpointError when it is missing, corrupt or not a cfipt model."""
    root = Path(model_dir)
    if not root.exists():
        raise InputNotFoundError(f"model folder {root} does not exist (train one with 'cfipt train')")
    meta_path = root / META_NAME
    if not meta_path.is_file():
        raise CheckpointError(f"{root} is not a cfipt model folder (no {META_NAME})")
    meta = read_json_document(
        meta_path,
        MODEL_FORMAT,
        CheckpointError,
        unreadable="{path} is corrupt: {exc}",
        foreign="{path} is not a cfipt model description",
    )
    check_model_meta(meta, meta_path)
    return ModelInfo(root=root, meta=meta)


def check_model_meta(meta: dict[str, Any], path: Path) -> None:
    """Every key of model.json that cfipt reads, with its type and consistency (before any work).

    Raises:
        CheckpointError: one line: a folder of another format version (older: retrain it), or the first
            missing, mistyped or inconsistent key.
    """
    root = path.parent
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < MODEL_FORMAT_VERSION:
        raise CheckpointError(
            f"{root} was made by an older cfipt (model format {version}, this cfipt reads "
            f"{MODEL_FORMAT_VERSION}) whose network differs; retrain it with 'cfipt train SCENE --out {root} "
            "--overwrite'"
        )
    if version > MODEL_FORMAT_VERSION:
        raise CheckpointError(f"{root} was written by a newer cfipt (model format {version}); upgrade cfipt")
    doc = Document(meta, path, "the model folder is damaged or was edited; retrain it", error=CheckpointError)
    layout = doc.items("band_layout", str, low=2)
    if any(b not in ("hsi", "lidar", "sar") for b in layout):
        raise doc.error("band_layout", "hsi, lidar or sar per band")
    roles = doc.sub("band_roles")
    n_hsi, n_aux = roles.integer("hsi", low=1), roles.integer("aux", low=1)
    if n_hsi + n_aux != len(layout) or layout[:n_hsi] != ["hsi"] * n_hsi or "hsi" in layout[n_hsi:]:
        raise doc.error("band_roles", f"hsi + aux = {len(layout)} bands, the hsi bands first")
    normalisation = doc.sub("normalisation")
    normalisation.numbers("mean", length=len(layout))
    if any(v < 0 for v in normalisation.numbers("std", length=len(layout))):
        raise normalisation.error("std", "non-negative numbers")
    patch = doc.integer("patch_size", low=1)
    if patch % 2 == 0:
        raise doc.error("patch_size", "an odd number")
    entries = doc.class_table("classes")  # integer ids, string names, none repeated
    if not entries:
        raise doc.error("classes", "at least one class")
    try:
        classes = ClassTable.from_json(entries)
    except (CfiptError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise doc.error("classes", f"a valid class table ({exc})") from exc
    config = doc.sub("model_config")
    for key, value in (("hsi_bands", n_hsi), ("aux_bands", n_aux), ("patch_size", patch)):
        if config.integer(key, low=1) != value:
            raise config.error(key, f"{value}, as band_roles / patch_size say")
    # the logits follow model_config.class_names (they are the text prompts): the class table must
    # name the same classes in the same order, or each id would get another class's pixels
    if config.items("class_names", str, low=1) != classes.names:
        raise config.error("class_names", f"the names of 'classes' in their order ({classes.names})")
    doc.mapping("train_config")
    backbone = doc.sub("backbone")
    backbone.string("fingerprint")
    backbone.integer("init_seed", low=0)
    doc.string("status")
    doc.integer("epochs_done", low=0)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (replacing `path`)."""
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write one JSON record per line, atomically (replacing `path`)."""
    with atomic_file(path, overwrite=True) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Save tensors as safetensors, atomically. Copies to CPU and unshares memory first."""
    from safetensors.torch import save_file

    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    with atomic_file(path, overwrite=True) as tmp:
        save_file(plain, str(tmp), metadata={"format": "pt"})


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file onto the CPU; CheckpointError when it is missing or corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path} is missing; the model folder is incomplete")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); retrain or restore it") from exc


def save_model(model_dir: str | Path, model: CFIPT, meta: dict[str, Any]) -> None:
    """Write the trainable weights and then `model.json` (the last write makes the folder current).

    Args:
        model_dir: an existing folder (the model folder).
        model: the trained CFIPT.
        meta: the `model.json` content (see `build_meta`).
    """
    root = Path(model_dir)
    save_tensors(root / WEIGHTS_NAME, model.trainable_state_dict())
    write_json(root / META_NAME, meta)


def build_meta(
    *,
    model_config: dict[str, Any],
    classes: ClassTable,
    scene: Scene,
    backbone_fingerprint: str,
    train_config: dict[str, Any],
    scene_fingerprint: str,
    counts: dict[str, int],
    dropped_classes: list[dict[str, Any]],
    status: str,
    epochs_done: int,
    summary: dict[str, Any],
    created: str | None = None,
) -> dict[str, Any]:
    """The `model.json` document. `counts` maps class id (as a string) to training pixels used."""
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "cfipt_version": __version__,
        "created": created or utc_now(),
        "updated": utc_now(),
        "status": status,
        "epochs_done": epochs_done,
        "epochs": int(train_config["epochs"]),
        "backbone": {
            "clip_model": model_config.get("clip_model", train_config["clip_model"]),
            "pretrained": train_config["pretrained"],
            "fingerprint": backbone_fingerprint,
            "init_seed": int(train_config["seed"]),
        },
        "model_config": model_config,
        "classes": classes.to_json(),
        "band_layout": scene.band_layout,
        "band_roles": dict(scene.meta["band_roles"]),
        "normalisation": {
            "mean": [float(v) for v in scene.band_mean],
            "std": [float(v) for v in scene.band_std],
        },
        "patch_size": int(train_config["patch_size"]),
        "train_config": train_config,
        "scene": {
            "path": str(scene.root.resolve()),
            "fingerprint": scene_fingerprint,
            "train_counts": counts,
        },
        "dropped_classes": dropped_classes,
        "summary": summary,
    }


def build_network(model_config: dict[str, Any], init_seed: int, pretrained: str | None = None) -> CFIPT:
    """Rebuild a CFIPT from its recorded config; random parts are initialised from `init_seed`.

    `pretrained` replaces the recorded weights source when given ("none" for random weights).
    """
    import torch

    from models import CFIPT, CFIPTConfig
    from models.errors import ModelError, ModelSettingError

    values = dict(model_config)
    if pretrained is not None:
        values["pretrained"] = None if pretrained.lower() == "none" else pretrained
    try:
        config = CFIPTConfig.from_dict(values)
    except (ModelSettingError, TypeError) as exc:
        raise CheckpointError(f"the recorded model config does not fit this cfipt: {exc}") from exc
    # A random backbone is only reproducible from the seed it was drawn with; keep the caller's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        try:
            return CFIPT(config)
        except ModelError as exc:  # in the CLI's terms (WeightsUnavailableError, CfiptUsageError, ...)
            converted = from_model_error(exc)
            assert converted is not None
            raise converted from exc


def load_model(
    model_dir: str | Path,
    device: str | torch.device = "cpu",
    *,
    pretrained: str | None = None,
    allow_incomplete: bool = False,
) -> tuple[CFIPT, ModelInfo]:
    """Load a trained model folder for prediction.

    Args:
        model_dir: the folder `cfipt train` wrote.
        device: where to put the model.
        pretrained: backbone weights to use instead of the recorded source (a tag, a file, "none");
            they must hash to the recorded fingerprint.
        allow_incomplete: accept an unfinished run (its last completed epoch).

    Returns:
        The CFIPT in eval mode on `device`, and its ModelInfo.

    Raises:
        CheckpointError: corrupt or foreign folder, unfinished run, backbone fingerprint mismatch.
        WeightsUnavailableError: the backbone weights cannot be had (raised by the models package).
    """
    import torch

    info = read_model_info(model_dir)
    if not info.complete and not allow_incomplete:
        raise CheckpointError(
            f"{info.root} is an unfinished training run (epoch {info.epochs_done} of "
            f"{info.meta.get('epochs', '?')}); finish it with 'cfipt train SCENE --out {info.root} --resume'"
        )
    state = load_tensors(info.root / WEIGHTS_NAME)
    try:
        model = build_network(info.model_config, int(info.meta["backbone"]["init_seed"]), pretrained)
    except WeightsUnavailableError as exc:
        if pretrained is not None:
            raise
        raise _recorded_weights_unavailable(info, exc) from exc
    hint = (
        "pass the original weights with --pretrained"
        if pretrained is not None
        else "the weights at its recorded source have changed: restore the original ones there, or retrain"
    )
    check_fingerprint(model, info.meta["backbone"]["fingerprint"], info.root, hint)
    load_weights(model, state, info.root / WEIGHTS_NAME)
    return model.to(torch.device(device)).eval(), info


def _recorded_weights_unavailable(info: ModelInfo, exc: WeightsUnavailableError) -> WeightsUnavailableError:
    """The backbone error of `models` reworded for a model folder: there is no --pretrained to change,
    the weights recorded in model.json must be found where they were (a cache, or the file's path)."""
    source = info.meta["backbone"].get("pretrained") or info.model_config.get("pretrained")
    name = info.model_config.get("clip_model", "the backbone")
    detail = str(exc).split(";")[0].replace("--pretrained ", "")
    return WeightsUnavailableError(
        f"{info.root} needs the {name} weights it was trained with ({source!r}) and they cannot be loaded "
        f"({detail}); put them back where training found them (the open_clip cache, or the file at that "
        "path), or retrain the model with weights that are available"
    )


def check_fingerprint(
    model: CFIPT, expected: str, where: Path, hint: str = "pass the original weights with --pretrained"
) -> None:
    """CheckpointError when the rebuilt backbone is not the one the model was trained with."""
    actual = model.backbone_fingerprint()
    if actual != expected:
        raise CheckpointError(
            f"{where} was trained on another backbone (weights hash {expected[:12]}..., these weights "
            f"{actual[:12]}...); {hint}"
        )


def load_weights(model: CFIPT, state: dict[str, torch.Tensor], where: Path) -> None:
    """Load trainable weights strictly; mismatching keys or shapes become a CheckpointError."""
    try:
        model.load_trainable_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{where} does not fit the model it describes: {str(exc).splitlines()[0]}"
        ) from exc


# Checkpoints: the resume state of the last completed epoch.


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
    return read_json_document(
        path,
        CHECKPOINT_FORMAT,
        CheckpointError,
        unreadable="{path} is corrupt ({exc}); train anew with --overwrite",
        foreign="{path} is not a cfipt checkpoint; train anew with --overwrite",
    )


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
