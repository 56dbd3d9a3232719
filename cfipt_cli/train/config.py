"""The training configuration of `cfipt train`: defaults, a TOML file, explicit flags.

Precedence, lowest first: the defaults of `TrainConfig`, the `--config` TOML file, the flags given on
the command line. The resolved configuration is saved in the model folder (`model.json`,
`train_config`) and is what `--resume` continues with.

A TOML file holds any field of `TrainConfig` at its top level, or under a `[train]` table, e.g.

    clip_model = "ViT-B-16-quickgelu"
    pretrained = "openai"
    epochs = 30
    batch_size = 32
    lr = 5e-4

Unknown keys are an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cfipt_cli.errors import CfiptUsageError, InputNotFoundError
from models.variants import VARIANTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Fields that change how a run computes but not what it computes (on CPU): they may differ on --resume.
RUNTIME_FIELDS = frozenset({"device", "amp", "num_workers"})


@dataclass(frozen=True)
class Flag:
    """How a setting is typed on the command line; `cfipt train` builds its options from these.

    Attributes:
        decls: the option, e.g. "--batch-size"; an on/off switch "--augment/--no-augment".
        help: its help line; None for an option the command line declares once for several commands
            (--device, --amp, --seed).
        metavar: the placeholder of its value in the help, e.g. "N".
    """

    decls: str
    help: str | None = None
    metavar: str | None = None

    @property
    def name(self) -> str:
        """The option's (first) name, as messages quote it: "--augment" for "--augment/--no-augment"."""
        return self.decls.split("/")[0]


def _setting(default: Any, decls: str, help: str | None = None, metavar: str | None = None) -> Any:
    """A TrainConfig field with its command-line option."""
    return dataclasses.field(default=default, metadata={"flag": Flag(decls, help, metavar)})


_ABLATIONS = ", ".join(name for name in VARIANTS if name != "full")


@dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run. Defaults follow docs/method.md; the ones marked (ours) are ours.

    Attributes:
        clip_model: open_clip model name of the frozen backbone.
        pretrained: open_clip weights tag (e.g. "openai"), a local checkpoint file, or "none" (random).
        weights_licence: the licence of the backbone weights as their publisher gives it, recorded in
            model.json (`backbone.licence`); "" when not given.
        epochs: passes over the (class-balanced) training set (ours).
        batch_size: samples per step; batches draw the classes equally (ours).
        lr: AdamW peak learning rate (paper notes: 5e-4).
        weight_decay: AdamW weight decay (ours).
        warmup_epochs: linear warm-up length before the cosine decay, in epochs, capped at
            epochs - 1 (ours).
        device: "auto", "cpu", "cuda" or "cuda:N".
        amp: bf16 autocast: None (the default, "auto" in a config file) means on for CUDA and off on
            CPU; False turns it off; True on a CPU is ignored with a warning (CPU stays fp32). The model
            folder records the resolved value.
        seed: seed of every random choice (initialisation, validation split, batches, augmentation).
        val_fraction: share of each class's training pixels held out to report validation OA.
        num_workers: DataLoader workers reading patches (only used when patches are not cached).
        augment: random flips / rot90 of the training patches.
        patch_size: p, the side of the patch around each pixel (odd).
        prompt_length: n, prompt tokens per layer (even).
        prompt_depth: L, number of prompted layers.
        variant: "full" or an ablation of the paper (`models.variants.VARIANTS`: "1", "2", "3", "4a".."4d").
        drop_empty_classes: drop classes without any training pixel (with a warning) instead of failing.

    Each field's metadata holds its command-line option (`Flag`).
    """

    clip_model: str = _setting(
        "ViT-B-16-quickgelu", "--clip", "open_clip model name of the frozen backbone.", "NAME"
    )
    pretrained: str = _setting(
        "openai",
        "--pretrained",
        "Backbone weights: open_clip tag, checkpoint file, or none (random).",
        "WEIGHTS",
    )
    weights_licence: str = _setting(
        "", "--weights-licence", "Licence of the --pretrained weights, recorded in model.json.", "TEXT"
    )
    epochs: int = _setting(30, "--epochs", "Training epochs.", "N")
    batch_size: int = _setting(32, "--batch-size", "Samples per class-balanced batch.", "N")
    lr: float = _setting(5e-4, "--lr", "AdamW peak learning rate.", "RATE")
    weight_decay: float = _setting(1e-4, "--weight-decay", "AdamW weight decay.", "VALUE")
    warmup_epochs: int = _setting(2, "--warmup-epochs", "Linear warm-up epochs before the cosine decay.", "N")
    device: str = _setting("auto", "--device")
    amp: bool | None = _setting(None, "--amp/--no-amp")
    seed: int = _setting(0, "--seed")
    val_fraction: float = _setting(
        0.0, "--val-fraction", "Share of each class's training pixels held out for validation.", "FRACTION"
    )
    num_workers: int = _setting(
        0, "--num-workers", "DataLoader workers (when patches are read from disk).", "N"
    )
    augment: bool = _setting(True, "--augment/--no-augment", "Random flips and rot90.")
    patch_size: int = _setting(11, "--patch-size", "Patch size p (odd).", "N")
    prompt_length: int = _setting(6, "--prompt-length", "Prompt tokens n per layer (even).", "N")
    prompt_depth: int = _setting(9, "--prompt-depth", "Prompted layers L.", "N")
    variant: str = _setting("full", "--variant", f"full, or a paper ablation: {_ABLATIONS}.", "NAME")
    drop_empty_classes: bool = _setting(
        False, "--drop-empty-classes", "Train without classes that have no training pixel (warns)."
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise CfiptUsageError (exit 2) naming the first option out of range."""
        checks = [
            (self.epochs >= 1, "epochs", "must be at least 1"),
            (self.batch_size >= 1, "batch_size", "must be at least 1"),
            (self.lr > 0, "lr", "must be positive"),
            (self.weight_decay >= 0, "weight_decay", "must be >= 0"),
            (self.warmup_epochs >= 0, "warmup_epochs", "must be >= 0"),
            (0.0 <= self.val_fraction < 1.0, "val_fraction", "must be in [0, 1)"),
            (self.num_workers >= 0, "num_workers", "must be >= 0"),
            (self.patch_size >= 1 and self.patch_size % 2 == 1, "patch_size", "must be odd"),
            (self.prompt_length >= 2 and self.prompt_length % 2 == 0, "prompt_length", "must be even"),
            (self.prompt_depth >= 1, "prompt_depth", "must be at least 1"),
            (self.variant in VARIANTS, "variant", f"must be one of {', '.join(VARIANTS)}"),
            (bool(self.clip_model), "clip_model", "must name an open_clip model"),
            (bool(self.pretrained), "pretrained", "must be a tag, a file or 'none'"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise CfiptUsageError(f"{flag_of(name)} {rule} (got {getattr(self, name)!r})")

    @property
    def pretrained_arg(self) -> str | None:
        """`pretrained` as the models package takes it: None for "none" (random weights)."""
        return None if self.pretrained.strip().lower() == "none" else self.pretrained

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """The valid keys of a config file, in declaration order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
        """`base` (or the defaults) updated with `values`; unknown keys and wrong types are usage errors."""
        valid = cls.field_names()
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise CfiptUsageError(
                f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
            )
        merged = base.to_dict() if base is not None else {f.name: f.default for f in fields(cls)}
        for name, value in values.items():
            merged[name] = _coerce_amp(value) if name == "amp" else _coerce(name, value, type(merged[name]))
        return cls(**merged)


def flag_of(name: str) -> str:
    """The command-line flag of a config field: 'batch_size' -> '--batch-size', 'clip_model' -> '--clip'."""
    return {f.name: f.metadata["flag"].name for f in fields(TrainConfig)}[name]


def _coerce(name: str, value: Any, kind: type) -> Any:
    """Check a config value against the type of its default; ints are accepted for floats."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # e.g. variant = 1
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CfiptUsageError(f"training option {name} must be {kind.__name__}, got {value!r}")
    return value


def _coerce_amp(value: Any) -> bool | None:
    """amp: true, false, or None / "auto" (decided by the device)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if not isinstance(value, bool):
        raise CfiptUsageError(f'training option amp must be true, false or "auto", got {value!r}')
    return value


def read_toml(path: str | Path) -> dict[str, Any]:
    """The training options of a TOML file: its top level, or its [train] table when it has one."""
    file = Path(path)
    if not file.is_file():
        raise InputNotFoundError(f"config file {file} does not exist")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CfiptUsageError(f"config file {file} is not valid TOML: {exc}") from exc
    table = data.get("train", data)
    if not isinstance(table, dict):
        raise CfiptUsageError(f"config file {file}: [train] must be a table")
    return dict(table)


def resolve_config(config_file: str | Path | None, explicit: Mapping[str, Any]) -> TrainConfig:
    """Defaults < TOML file < explicit flags.

    Args:
        config_file: a TOML file, or None.
        explicit: the options given on the command line, by TrainConfig field name.

    Returns:
        The resolved, validated configuration.
    """
    from_file = read_toml(config_file) if config_file is not None else {}
    return TrainConfig.from_mapping({**from_file, **explicit})


def differing_fields(saved: TrainConfig, asked: Mapping[str, Any]) -> list[str]:
    """Fields in `asked` whose value differs from `saved`, runtime fields excluded (for --resume)."""
    current = saved.to_dict()
    return sorted(
        name
        for name, value in asked.items()
        if name not in RUNTIME_FIELDS and name in current and current[name] != value
    )
