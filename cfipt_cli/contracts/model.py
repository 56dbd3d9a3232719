"""The model folder written by `cfipt train` and read by `cfipt predict`.

Layout::

    model/
      model.safetensors   trainable weights only (CFIPT.trainable_state_dict()), safetensors
      model.json          format, cfipt version, status ("complete" / "incomplete"), epochs done,
                          backbone (open_clip name, weights source, sha256 fingerprint, init seed),
                          model_config (CFIPTConfig as a dict), classes (class table, logit k = k-th
                          entry), band_layout / band_roles, normalisation mean/std, patch_size,
                          train_config (resolved TrainConfig), scene (path, fingerprint, pixel counts),
                          dropped_classes, summary (last epoch's figures), init_from (fine-tuned
                          models only: the model started from, its weights' sha256, its classes)
      train_log.jsonl     one JSON record per completed epoch
      checkpoint/         resume state of the last completed epoch (`cfipt_cli.train.checkpoint`)

`save_model(model_dir, model, ModelRecord(...))` writes a folder (the keys of model.json are built
and checked in `contracts.model_json`); `read_model_info` and `load_model` read one back. Nothing here
unpickles: weights and optimizer moments are safetensors, everything else is JSON.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfipt_cli.contracts.folder import OpenedFolder, PerBand
from cfipt_cli.contracts.model_json import (
    MODEL_FORMAT,
    STATUS_COMPLETE,
    ModelRecord,
    check_model_meta,
    recorded_checkpoint,
)
from cfipt_cli.errors import CheckpointError, InputNotFoundError, WeightsUnavailableError, from_model_error
from cfipt_cli.io.atomic import JsonDocument, atomic_file
from cfipt_cli.io.files import sha256_file

if TYPE_CHECKING:
    import torch

    from cfipt_cli.contracts.scene import Scene
    from models import CFIPT

WEIGHTS_NAME = "model.safetensors"
META_NAME = "model.json"
LOG_NAME = "train_log.jsonl"
MODEL_DOCUMENT = JsonDocument(
    MODEL_FORMAT,
    CheckpointError,
    unreadable="{path} is corrupt: {exc}",
    foreign="{path} is not a cfipt model description",
)


class ModelInfo(OpenedFolder):
    """What a model folder says about its model, read from `model.json`."""

    @property
    def class_ids(self) -> list[int]:
        """Class id of each logit index."""
        return self.classes.ids

    @property
    def band_layout(self) -> list[str]:
        """Source of each stack band the model was trained on, e.g. ['hsi', ..., 'lidar']."""
        return [str(b) for b in self.meta["band_layout"]]

    # the per-band normalisation of the model's input: its training scene's statistics
    mean = PerBand("normalisation", "mean")
    std = PerBand("normalisation", "std")

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

    @property
    def init_from(self) -> dict[str, Any] | None:
        """The model a fine-tuning run started from (path, sha256, classes); None when trained anew."""
        value = self.meta.get("init_from")
        return dict(value) if value is not None else None

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
    meta = MODEL_DOCUMENT.read(meta_path)
    check_model_meta(meta, meta_path)
    return ModelInfo(root=root, meta=meta)


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


def save_model(
    model_dir: str | Path, model: CFIPT, record: ModelRecord, log: list[dict[str, Any]] | None = None
) -> None:
    """Write the trainable weights, the training log (when given) and last `model.json`, each atomically
    (the last write makes the folder current).

    Args:
        model_dir: an existing folder (the model folder).
        model: the trained CFIPT.
        record: what `model.json` records.
        log: the records of `train_log.jsonl`, one per completed epoch.
    """
    root = Path(model_dir)
    save_tensors(root / WEIGHTS_NAME, model.trainable_state_dict())
    if log is not None:
        with atomic_file(root / LOG_NAME, overwrite=True) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in log), encoding="utf-8")
    write_model_json(root, record)


def write_model_json(model_dir: str | Path, record: ModelRecord) -> None:
    """Write `model_dir/model.json` from `record`, atomically (replacing it)."""
    with atomic_file(Path(model_dir) / META_NAME, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record.to_json(), indent=2) + "\n", encoding="utf-8")


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
    model_dir: str | Path | ModelInfo,
    device: str | torch.device = "cpu",
    *,
    pretrained: str | None = None,
    allow_incomplete: bool = False,
) -> tuple[CFIPT, ModelInfo]:
    """Load a trained model folder for prediction.

    Args:
        model_dir: the folder `cfipt train` wrote, or its description already read (`read_model_info`;
            predict checks it before the backbone loads and does not read it again).
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

    info = model_dir if isinstance(model_dir, ModelInfo) else read_model_info(model_dir)
    if not info.complete and not allow_incomplete:
        raise CheckpointError(
            f"{info.root} is an unfinished training run (epoch {info.epochs_done} of "
            f"{info.meta.get('epochs', '?')}); finish it with 'cfipt train SCENE --out {info.root} --resume'"
        )
    state = load_tensors(info.root / WEIGHTS_NAME)
    if pretrained is None:
        check_recorded_checkpoint(info)
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


def check_recorded_checkpoint(info: ModelInfo) -> None:
    """The checkpoint file the model was trained from is still at its recorded path, with its sha256.

    Predict rebuilds the frozen backbone from that file. Folders of older cfipts, tags and random weights
    record no file: the fingerprint of the rebuilt weights is their only check.

    Raises:
        WeightsUnavailableError: the file is gone.
        CheckpointError: the file's bytes changed since training.
    """
    record = recorded_checkpoint(info.meta)
    source = info.model_config.get("pretrained")
    if record is None or not source:
        return
    path, recorded = Path(source), record["sha256"]
    if not path.is_file():
        raise WeightsUnavailableError(
            f"{info.root} needs the backbone checkpoint {record['name']} (sha256 {recorded[:12]}...) it was "
            f"trained with, and {path} is gone; put that file back there, or retrain the model"
        )
    actual = sha256_file(path)
    if actual != recorded:
        raise CheckpointError(
            f"{info.root}: the backbone checkpoint {path} changed since training (sha256 {actual[:12]}..., "
            f"recorded {recorded[:12]}... for {record['name']}); put the original file back there, or retrain"
        )


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
