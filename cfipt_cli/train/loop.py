"""Training CF-IPT on a prepared scene: `train_model`, the library function behind `cfipt train`.

The run itself is `trainer.Trainer`; this module drives its epochs and keeps the output folder's rules:
- a fresh run trains in a temporary folder beside `out` and renames it to `out` when the first epoch
  is complete; nothing is written (or replaced) before that, so an early failure leaves no trace;
- from then on every completed epoch rewrites, each atomically, `checkpoint/` (resume state), then
  `model.safetensors`, `train_log.jsonl` and last `model.json`, whose `status` stays "incomplete"
  until the final epoch; an interrupted run therefore keeps its last completed epoch;
- an existing `out` is replaced only with `overwrite` (`output_rules.check_fresh_output`);
- `resume` continues the run in `out` from its checkpoint with its saved options
  (`output_rules.resume_config`); resuming a complete run trains nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cfipt_cli.contracts import model as modelio
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptError
from cfipt_cli.log import get_logger
from cfipt_cli.train.checkpoint import read_checkpoint_state
from cfipt_cli.train.config import TrainConfig
from cfipt_cli.train.data import DEFAULT_CACHE_BYTES
from cfipt_cli.train.init_from import check_init_request, check_init_source
from cfipt_cli.train.output_rules import check_fresh_output, check_same_scene
from cfipt_cli.train.trainer import Trainer, model_config_for

log = get_logger(__name__)

EpochCallback = Callable[[dict[str, Any]], None]


class TrainingInterrupted(CfiptError):
    """Ctrl-C after at least one completed epoch: the model folder holds that epoch (exit code 130)."""

    exit_code = 130


def _progress_bar(enabled: bool, total: int, initial: int) -> Any:
    import sys

    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        file=sys.stderr,
        unit="step",
        dynamic_ncols=True,
        leave=False,
    )


def train_model(
    scene_dir: str | Path,
    out: str | Path,
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    on_epoch_end: EpochCallback | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    init_from: str | Path | None = None,
) -> dict[str, Any]:
    """Train CF-IPT on a prepared scene and write the model folder `out`.

    Args:
        scene_dir: the scene folder of `cfipt prepare`.
        out: the model folder to write (see the module docstring for the rules).
        config: the resolved configuration; with `resume`, use `resume_config` to get it.
        resume: continue the run in `out` from its checkpoint.
        overwrite: replace an existing `out` (a cfipt model folder, an empty folder or a file).
        progress: show a progress bar with loss and ETA on stderr.
        on_epoch_end: called with each epoch's log record once that epoch is saved.
        cache_bytes: keep the training patches in memory when they need at most this many bytes.
        init_from: a trained model folder to start from (`init_from`); not with `resume`.

    Returns:
        A JSON-ready summary of the run.

    Raises:
        CfiptError subclasses: bad scene, bad options, device or weights unavailable, checkpoint
        problems, existing output; TrainingInterrupted on Ctrl-C after a completed epoch.
    """
    check_init_request(init_from, resume)
    scene = Scene.open(scene_dir)
    out_path = Path(out)
    init = None
    if resume:
        done = _already_complete(out_path, scene, config)
        if done is not None:
            return done
    else:
        check_fresh_output(out_path, overwrite)
        if init_from is not None:  # before the (slow) backbone is built
            init = check_init_source(init_from, scene, model_config_for(config, scene, []))
    started = time.perf_counter()
    trainer = Trainer(scene, out_path, config, cache_bytes, init)
    try:
        resumed_from = None
        if resume:
            trainer.restore()
            resumed_from = trainer.state.epoch
        _run_epochs(trainer, resume, overwrite, progress, on_epoch_end)
        summary = trainer.summary(time.perf_counter() - started, resumed_from)
        modelio.write_model_json(out_path, dataclasses.replace(trainer.record(), run_summary=summary))
        return summary
    finally:
        trainer.close()


def _already_complete(out: Path, scene: Scene, config: TrainConfig) -> dict[str, Any] | None:
    """Checks of --resume before the backbone is built; the summary of a run that has nothing left."""
    info = modelio.read_model_info(out)
    check_same_scene(out, scene)
    if not (info.complete and info.epochs_done >= config.epochs):
        return None
    log.info("%s is already complete; nothing to resume", out)
    return {
        **info.meta.get("run_summary", {}),
        "model": str(out),
        "status": "complete",
        "resumed_from_epoch": info.epochs_done,
    }


def _run_epochs(
    trainer: Trainer, resume: bool, overwrite: bool, progress: bool, on_epoch_end: EpochCallback | None
) -> None:
    """The epoch loop; a fresh run's first epoch is written to a temporary folder renamed at its end."""
    from cfipt_cli.io.atomic import atomic_dir

    epochs = trainer.config.epochs
    bar = _progress_bar(progress, trainer.total_steps, trainer.state.step)
    published = resume  # True once `out` holds this run
    try:
        with bar:
            epoch = trainer.state.epoch
            if not resume:
                with atomic_dir(trainer.out, overwrite=overwrite) as tmp:
                    record = trainer.complete_epoch(epoch, bar, tmp)
                published = True
                epoch += 1
                if on_epoch_end:
                    on_epoch_end(record)
            for e in range(epoch, epochs):
                record = trainer.complete_epoch(e, bar, trainer.out)
                if on_epoch_end:
                    on_epoch_end(record)
    except KeyboardInterrupt:
        if not published:
            raise  # nothing was written: the CLI says so
        done = read_checkpoint_state(trainer.out).get("epoch", "?")
        raise TrainingInterrupted(
            f"interrupted; {trainer.out} holds epoch {done} of {epochs}: continue with "
            f"'cfipt train {trainer.scene.root} --out {trainer.out} --resume'"
        ) from None
