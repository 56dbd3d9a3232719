"""One training run as the command line asks for it: its settings resolved once, the output policy, the run.

`run_training(TrainRequest(...))` is the library call behind `cfipt train`: it resolves the settings
(defaults < TOML file < typed options; with --resume the saved ones, whose runtime options may change;
with --init-from MODEL, MODEL's backbone and network settings for those neither file nor options give),
refuses an --out over the scene, replaces only a model folder, and trains under the output lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfipt_cli.errors import DataError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.gdal import gdal_errors, gdal_message
from cfipt_cli.train.config import TrainConfig, read_toml
from cfipt_cli.train.init_from import check_init_request, inherited_settings
from cfipt_cli.train.loop import train_model
from cfipt_cli.train.output_rules import resume_config


@dataclass(frozen=True)
class TrainRequest:
    """What one `cfipt train` asks for.

    Attributes:
        scene: the scene folder of `cfipt prepare`.
        out: the model folder to write.
        config_file: a TOML file of training settings, or None.
        given: the settings typed on the command line, by TrainConfig field name (they win over the file).
        resume: continue the unfinished run in `out` with its saved settings.
        init_from: a trained model folder whose weights the run starts from (fine-tuning).
        overwrite: replace an existing model folder.
        progress: show a progress bar on stderr.
    """

    scene: Path
    out: Path
    config_file: Path | None = None
    given: Mapping[str, Any] = field(default_factory=dict)
    resume: bool = False
    overwrite: bool = False
    progress: bool = False
    init_from: Path | None = None

    def settings(self) -> TrainConfig:
        """The run's TrainConfig, validated: the saved one with --resume, else defaults < file < given;
        with --init-from, the settings that must match MODEL are MODEL's unless the file or `given` has
        them (`init_from.inherited_settings`)."""
        check_init_request(self.init_from, self.resume)
        from_file = read_toml(self.config_file) if self.config_file is not None else {}
        asked = {**from_file, **self.given}
        if self.resume:
            return resume_config(self.out, asked)
        if self.init_from is not None:
            asked = {**inherited_settings(self.init_from, asked.keys()), **asked}
        return TrainConfig.from_mapping(asked)


def run_training(request: TrainRequest) -> dict[str, Any]:
    """`train_model` under the output policy: `--out` not over the scene, only a model replaced, locked.

    Returns:
        The run's JSON-ready summary (see `train_model`).
    """
    config = request.settings()
    output = policy.Output(request.out, "--out", policy.MODEL)
    inputs = [("scene folder", request.scene)]
    if request.config_file is not None:
        inputs.append(("--config file", request.config_file))
    if request.init_from is not None:
        inputs.append(("--init-from model", request.init_from))
    policy.refuse_outputs_over_inputs([output], inputs)
    if request.overwrite and not request.resume:  # without --overwrite, train_model words "exists"
        policy.check_replaceable(output, request.overwrite)
    with policy.locked_outputs([request.out]):
        try:
            return train_model(
                request.scene,
                request.out,
                config,
                resume=request.resume,
                overwrite=request.overwrite,
                progress=request.progress,
                init_from=request.init_from,
            )
        except gdal_errors() as exc:
            raise DataError(
                f"cannot read the scene {request.scene} ({gdal_message(exc)}); is the scene folder intact? "
                "prepare it again"
            ) from exc
