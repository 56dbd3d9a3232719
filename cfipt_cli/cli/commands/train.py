"""`cfipt train`: few-shot prompt tuning of CF-IPT on a prepared scene -> a model folder."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import AmpOpt, DeviceOpt, JsonOut, Overwrite, SeedOpt
from cfipt_cli.train.config import TrainConfig

DEFAULTS = TrainConfig()  # one source of the defaults (light: no heavy import)

# Command-line parameter name -> TrainConfig field, for every option a config file may also set.
CONFIG_PARAMS = {
    "clip": "clip_model",
    "pretrained": "pretrained",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "warmup_epochs": "warmup_epochs",
    "device": "device",
    "amp": "amp",
    "seed": "seed",
    "val_fraction": "val_fraction",
    "num_workers": "num_workers",
    "augment": "augment",
    "patch_size": "patch_size",
    "prompt_length": "prompt_length",
    "prompt_depth": "prompt_depth",
    "variant": "variant",
    "drop_empty_classes": "drop_empty_classes",
}


def _explicit(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options the user typed (not defaults), by TrainConfig field name."""
    given = {}
    for param, field in CONFIG_PARAMS.items():
        source = ctx.get_parameter_source(param)
        # By name: typer may carry its own copy of click's ParameterSource enum.
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given[field] = values[param]
    return given


def command(
    ctx: typer.Context,
    scene: Annotated[
        Path,
        typer.Argument(help="Scene folder written by 'cfipt prepare'.", metavar="SCENE", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.", metavar="DIR")] = Path(
        "model"
    ),
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file with any training option; flags win.", metavar="FILE"),
    ] = None,
    clip: Annotated[
        str, typer.Option("--clip", help="open_clip model name of the frozen backbone.", metavar="NAME")
    ] = DEFAULTS.clip_model,
    pretrained: Annotated[
        str,
        typer.Option(
            "--pretrained",
            help="Backbone weights: open_clip tag, checkpoint file, or none (random).",
            metavar="WEIGHTS",
        ),
    ] = DEFAULTS.pretrained,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.", metavar="N")] = DEFAULTS.epochs,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Samples per class-balanced batch.", metavar="N")
    ] = DEFAULTS.batch_size,
    lr: Annotated[
        float, typer.Option("--lr", help="AdamW peak learning rate.", metavar="RATE")
    ] = DEFAULTS.lr,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="AdamW weight decay.", metavar="VALUE")
    ] = DEFAULTS.weight_decay,
    warmup_epochs: Annotated[
        int,
        typer.Option("--warmup-epochs", help="Linear warm-up epochs before the cosine decay.", metavar="N"),
    ] = DEFAULTS.warmup_epochs,
    device: DeviceOpt = DEFAULTS.device,
    amp: AmpOpt = DEFAULTS.amp,
    seed: SeedOpt = DEFAULTS.seed,
    val_fraction: Annotated[
        float,
        typer.Option(
            "--val-fraction",
            help="Share of each class's training pixels held out for validation.",
            metavar="FRACTION",
        ),
    ] = DEFAULTS.val_fraction,
    num_workers: Annotated[
        int,
        typer.Option(
            "--num-workers", help="DataLoader workers (when patches are read from disk).", metavar="N"
        ),
    ] = DEFAULTS.num_workers,
    augment: Annotated[
        bool, typer.Option("--augment/--no-augment", help="Random flips and rot90.")
    ] = DEFAULTS.augment,
    patch_size: Annotated[
        int, typer.Option("--patch-size", help="Patch size p (odd).", metavar="N")
    ] = DEFAULTS.patch_size,
    prompt_length: Annotated[
        int, typer.Option("--prompt-length", help="Prompt tokens n per layer (even).", metavar="N")
    ] = DEFAULTS.prompt_length,
    prompt_depth: Annotated[
        int, typer.Option("--prompt-depth", help="Prompted layers L.", metavar="N")
    ] = DEFAULTS.prompt_depth,
    variant: Annotated[
        str,
        typer.Option("--variant", help="full, or a paper ablation: 1, 2, 3, 4a, 4b, 4c, 4d.", metavar="NAME"),
    ] = DEFAULTS.variant,
    drop_empty_classes: Annotated[
        bool,
        typer.Option(
            "--drop-empty-classes", help="Train without classes that have no training pixel (warns)."
        ),
    ] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --out.")] = False,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
) -> None:
    """Train CF-IPT (prompt tuning of a frozen CLIP) on the training pixels of a prepared scene.

    Writes a model folder: model.safetensors (trainable weights), model.json, train_log.jsonl and
    checkpoint/ (resume state). Ctrl-C keeps the last completed epoch; --resume continues it.

    Example: cfipt train scene --out model --epochs 30 --device cuda  (bf16 autocast on CUDA; --no-amp: fp32)
    """
    from cfipt_cli.train.config import resolve_config
    from cfipt_cli.train.loop import resume_config

    values = dict(locals())
    explicit = _explicit(ctx, values)
    if resume:
        from cfipt_cli.train.config import read_toml

        asked = {**(read_toml(config) if config is not None else {}), **explicit}
        resolved = resume_config(out, asked)
    else:
        resolved = resolve_config(config, explicit)
    logger = logging.getLogger("cfipt")
    progress = sys.stderr.isatty() or logger.isEnabledFor(logging.INFO)
    summary = _train_locked(scene, out, resolved, resume, overwrite, progress, config)
    if logger.getEffectiveLevel() <= logging.WARNING:
        print(_summary_line(summary), file=sys.stderr)
    if json_out:
        print(json.dumps(summary, indent=2))


def _train_locked(
    scene: Path,
    out: Path,
    resolved: TrainConfig,
    resume: bool,
    overwrite: bool,
    progress: bool,
    config: Path | None = None,
) -> dict[str, Any]:
    """`train_model` under the output policy: `--out` not over the scene, only a model replaced, locked."""
    from cfipt_cli.errors import DataError
    from cfipt_cli.io import outputs as policy
    from cfipt_cli.io.gdal import gdal_errors, gdal_message
    from cfipt_cli.train.loop import train_model

    output = policy.Output(out, "--out", policy.MODEL)
    inputs = [("scene folder", scene), *([("--config file", config)] if config is not None else [])]
    policy.refuse_outputs_over_inputs([output], inputs)
    if overwrite and not resume:  # without --overwrite, train_model words "exists" (and --resume)
        policy.check_replaceable(output, overwrite)
    with policy.locked_outputs([out]):
        try:
            return train_model(scene, out, resolved, resume=resume, overwrite=overwrite, progress=progress)
        except gdal_errors() as exc:
            raise DataError(
                f"cannot read the scene {scene} ({gdal_message(exc)}); is the scene folder intact? "
                "prepare it again"
            ) from exc


def _summary_line(summary: dict[str, Any]) -> str:
    """One human line: epochs, where the model went, last epoch's figures."""
    figures = [
        f"{name} {summary[key]:.4f}"
        for key, name in (("loss", "loss"), ("train_oa", "train OA"), ("val_oa", "validation OA"))
        if key in summary
    ]
    return f"{summary['model']}: {summary.get('epochs')} epochs, {', '.join(figures)}"
