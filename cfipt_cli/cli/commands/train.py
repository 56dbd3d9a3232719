"""`cfipt train`: few-shot prompt tuning of CF-IPT on a prepared scene -> a model folder.

The options of the training settings are built from `TrainConfig`'s fields (each field's `Flag`), so a
new setting is an option, with its default, without a second copy here.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import sys
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.options import AmpOpt, DeviceOpt, JsonOut, Overwrite, SeedOpt, print_summary
from cfipt_cli.train.config import TrainConfig

# Settings whose option the command line declares once for several commands.
SHARED_OPTIONS = {"device": DeviceOpt, "amp": AmpOpt, "seed": SeedOpt}


def _setting_parameters(exclude: frozenset[str]) -> list[inspect.Parameter]:
    """One command parameter per TrainConfig field not in `exclude`: its option (`Flag`), type, default."""
    types = typing.get_type_hints(TrainConfig)
    parameters = []
    for setting in dataclasses.fields(TrainConfig):
        if setting.name in exclude:
            continue
        flag = setting.metadata["flag"]
        if flag.help is None:
            annotation = SHARED_OPTIONS[setting.name]
        else:
            option = typer.Option(flag.decls, help=flag.help, metavar=flag.metavar)
            annotation = Annotated[types[setting.name], option]
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        parameters.append(
            inspect.Parameter(setting.name, kind, default=setting.default, annotation=annotation)
        )
    return parameters


def with_setting_options(exclude: frozenset[str] = frozenset()) -> Any:
    """A decorator giving a command the setting options (all but `exclude`) in its signature, after
    its --config parameter, as typer reads it (`cfipt train`, `cfipt reproduce`)."""

    def decorate(function: Any) -> Any:
        own = list(inspect.signature(function, eval_str=True).parameters.values())
        cut = [p.name for p in own].index("config") + 1
        rest = [p for p in own[cut:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
        function.__signature__ = inspect.Signature([*own[:cut], *_setting_parameters(exclude), *rest])
        return function

    return decorate


@with_setting_options()
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
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --out.")] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(
            "--init-from",
            help="Start from this trained model's weights and settings (fine-tuning; classes matched by name).",
            metavar="MODEL",
        ),
    ] = None,
    overwrite: Overwrite = False,
    json_out: JsonOut = False,
    **settings: Any,  # one option per TrainConfig field (see `with_setting_options`)
) -> None:
    """Train CF-IPT (prompt tuning of a frozen CLIP) on the training pixels of a prepared scene.

    Writes a model folder: model.safetensors (trainable weights), model.json, train_log.jsonl and
    checkpoint/ (resume state). Ctrl-C keeps the last completed epoch; --resume continues it.

    Example: cfipt train scene --out model --epochs 30 --device cuda  (bf16 autocast on CUDA; --no-amp: fp32)
    """
    from cfipt_cli.train.request import TrainRequest, run_training

    logger = logging.getLogger("cfipt")
    request = TrainRequest(
        scene=scene,
        out=out,
        config_file=config,
        given=typed_settings(ctx, settings),
        resume=resume,
        init_from=init_from,
        overwrite=overwrite,
        progress=sys.stderr.isatty() or logger.isEnabledFor(logging.INFO),
    )
    summary = run_training(request)
    print_summary(_summary_line(summary), summary, json_out)


def typed_settings(ctx: typer.Context, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the user typed (not defaults), by TrainConfig field name."""
    given = {}
    for name, value in settings.items():
        source = ctx.get_parameter_source(name)
        # By name: typer may carry its own copy of click's ParameterSource enum.
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            given[name] = value
    return given


def _summary_line(summary: dict[str, Any]) -> str:
    """One human line: epochs, where the model went, last epoch's figures."""
    figures = [
        f"{name} {summary[key]:.4f}"
        for key, name in (("loss", "loss"), ("train_oa", "train OA"), ("val_oa", "validation OA"))
        if key in summary
    ]
    return f"{summary['model']}: {summary.get('epochs')} epochs, {', '.join(figures)}"
