"""`model.json`, the description of a model folder: its keys built in one place and checked in one place.

`ModelRecord(...).to_json()` is the one builder of the document (train writes it through
`contracts.model.save_model`, and so do the tests and benchmarks that make model folders);
`check_model_meta` checks every key that cfipt reads back, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfipt_cli import __version__
from cfipt_cli.errors import CfiptError, CheckpointError
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file, utc_now
from cfipt_cli.io.schema import Document

if TYPE_CHECKING:
    from cfipt_cli.contracts.scene import Scene

MODEL_FORMAT = "cfipt-model"
# 2: the network of models/ changed (fidelity fixes): weights of a version-1 folder do not fit it.
MODEL_FORMAT_VERSION = 2

STATUS_COMPLETE = "complete"
STATUS_INCOMPLETE = "incomplete"


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """What `model.json` records of a model; `to_json` builds the document.

    Attributes:
        model_config: the network's CFIPTConfig as a dict (`CFIPTConfig.to_dict()`).
        classes: the class table; logit k is its k-th class.
        scene: the scene trained on (its band layout, band roles and normalisation are recorded).
        backbone_fingerprint: sha256 of the backbone weights (`CFIPT.backbone_fingerprint()`).
        train_config: the resolved training settings (`TrainConfig.to_dict()`).
        scene_fingerprint: fingerprint of the scene's training labels.
        counts: training pixels used, by class id (as a string).
        dropped_classes: classes left out of training, as {"id", "name"}.
        status: STATUS_COMPLETE, or STATUS_INCOMPLETE while epochs remain.
        epochs_done: completed epochs.
        summary: the last epoch's log record ({} before the first).
        created: when the run began (None: now).
        run_summary: the summary of a finished run (None: the document has no such key).
        init_from: the model a fine-tuning run started from: {"path", "sha256" of its
            model.safetensors, "classes": its class table} (None: trained from scratch, no such key).
        checkpoint: the backbone checkpoint file trained from, `checkpoint_record(path)`: its file name
            and sha256 (None: the weights came from an open_clip tag, or are random).
    """

    model_config: dict[str, Any]
    classes: ClassTable
    scene: Scene
    backbone_fingerprint: str
    train_config: dict[str, Any]
    scene_fingerprint: str
    counts: dict[str, int]
    dropped_classes: list[dict[str, Any]]
    status: str
    epochs_done: int
    summary: dict[str, Any]
    created: str | None = None
    run_summary: dict[str, Any] | None = None
    init_from: dict[str, Any] | None = None
    checkpoint: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The `model.json` document (its "updated" time is now)."""
        train, scene = self.train_config, self.scene
        document = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "cfipt_version": __version__,
            "created": self.created or utc_now(),
            "updated": utc_now(),
            "status": self.status,
            "epochs_done": self.epochs_done,
            "epochs": int(train["epochs"]),
            "backbone": {
                "clip_model": self.model_config.get("clip_model", train["clip_model"]),
                "pretrained": train["pretrained"],
                "fingerprint": self.backbone_fingerprint,
                "init_seed": int(train["seed"]),
                "checkpoint": self.checkpoint,
                "licence": train.get("weights_licence") or None,
            },
            "model_config": self.model_config,
            "classes": self.classes.to_json(),
            "band_layout": scene.band_layout,
            "band_roles": dict(scene.meta["band_roles"]),
            "normalisation": {
                "mean": [float(v) for v in scene.band_mean],
                "std": [float(v) for v in scene.band_std],
            },
            "patch_size": int(train["patch_size"]),
            "train_config": train,
            "scene": {
                "path": str(scene.root.resolve()),
                "fingerprint": self.scene_fingerprint,
                "train_counts": self.counts,
            },
            "dropped_classes": self.dropped_classes,
            "summary": self.summary,
        }
        if self.init_from is not None:
            document["init_from"] = self.init_from
        if self.run_summary is not None:
            document["run_summary"] = self.run_summary
        return document


def check_model_meta(meta: dict[str, Any], path: Path) -> None:
    """Every key of model.json that cfipt reads, with its type and consistency (before any work).

    Raises:
        CheckpointError: one line: a folder of another format version (older: retrain it), or the first
            missing, mistyped or inconsistent key.
    """
    _check_format_version(meta.get("format_version"), path.parent)
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
    classes = _check_classes(doc)
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
    _check_checkpoint(backbone)
    doc.string("status")
    doc.integer("epochs_done", low=0)
    if meta.get("init_from") is not None:  # optional: fine-tuned models only
        init = doc.sub("init_from")
        init.string("path")
        init.string("sha256")
        init.class_table("classes")


def checkpoint_record(path: str | Path) -> dict[str, str]:
    """What model.json records of a backbone checkpoint file: its name and its sha256 (of the bytes)."""
    return {"name": Path(path).name, "sha256": sha256_file(path)}


def recorded_checkpoint(meta: dict[str, Any]) -> dict[str, str] | None:
    """The checkpoint record of a checked model.json; None for a tag, random weights or an older folder."""
    record = meta["backbone"].get("checkpoint")
    return dict(record) if record else None


def _check_checkpoint(backbone: Document) -> None:
    """backbone.checkpoint and backbone.licence: absent or null in folders of older cfipts."""
    if backbone.data.get("checkpoint") is not None:
        record = backbone.sub("checkpoint")
        record.string("name")
        digest = record.string("sha256")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise record.error("sha256", "64 lower-case hex digits")
    if backbone.data.get("licence") is not None:
        backbone.string("licence")


def _check_format_version(version: Any, root: Path) -> None:
    """CheckpointError for a folder of another model format: an older one's network differs (retrain)."""
    if not isinstance(version, int) or isinstance(version, bool) or version < MODEL_FORMAT_VERSION:
        raise CheckpointError(
            f"{root} was made by an older cfipt (model format {version}, this cfipt reads "
            f"{MODEL_FORMAT_VERSION}) whose network differs; retrain it with 'cfipt train SCENE --out {root} "
            "--overwrite'"
        )
    if version > MODEL_FORMAT_VERSION:
        raise CheckpointError(f"{root} was written by a newer cfipt (model format {version}); upgrade cfipt")


def _check_classes(doc: Document) -> ClassTable:
    """The class table of model.json: integer ids, string names, none repeated, at least one."""
    entries = doc.class_table("classes")
    if not entries:
        raise doc.error("classes", "at least one class")
    try:
        return ClassTable.from_json(entries)
    except (CfiptError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise doc.error("classes", f"a valid class table ({exc})") from exc
