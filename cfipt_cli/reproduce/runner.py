"""One run of a study through the four stages, each by its typed request, resuming what a run left.

prepare (the seed's split) -> train (the variant, the seed) -> predict (the test pixels) -> evaluate
(against the scene's test labels) -> run.json. A stage whose output is complete is skipped unless an
earlier stage ran again in this call; an interrupted training is resumed (`--resume`), an interrupted
prediction resumes from its saved blocks, and the report is rewritten.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cfipt_cli.contracts.model import META_NAME as MODEL_META
from cfipt_cli.contracts.model_json import STATUS_COMPLETE
from cfipt_cli.contracts.scene import META_NAME as SCENE_META
from cfipt_cli.errors import OutputExistsError
from cfipt_cli.evaluate.pipeline import ReportOutputs, run_evaluation
from cfipt_cli.evaluate.request import EvaluationRequest
from cfipt_cli.log import get_logger
from cfipt_cli.predict.pipeline import run_predict
from cfipt_cli.predict.settings import PredictOutputs, PredictRequest
from cfipt_cli.prepare.pipeline import prepare
from cfipt_cli.prepare.request import LabelOptions, OutputOptions, PrepareRequest, SceneInputs
from cfipt_cli.prepare.split import SplitParams
from cfipt_cli.reproduce.study import CLASS_NAMES_FILE, Run, Study
from cfipt_cli.train.request import TrainRequest, run_training

log = get_logger(__name__)

SCENE_DIR, MODEL_DIR, MAP_NAME, REPORT_BASE = "scene", "model", "map.tif", "report"


def _model_status(model: Path) -> str | None:
    """model.json's status ("complete", "incomplete"), or None when there is no readable model.json."""
    try:
        status = json.loads((model / MODEL_META).read_text(encoding="utf-8")).get("status")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return str(status)


def _prepare(study: Study, run: Run, scene: Path) -> None:
    files = study.files
    lidar, sar = ([files.aux], []) if files.aux_role == "lidar" else ([], [files.aux])
    request = PrepareRequest(
        SceneInputs(hsi=files.hsi, lidar=lidar, sar=sar),
        LabelOptions(
            labels=files.labels,
            test_labels=files.test_labels,
            class_names=study.request.out / CLASS_NAMES_FILE,
        ),
        SplitParams(
            train_per_class=study.request.train_per_class,
            seed=run.seed,
            patch_size=int(study.train["patch_size"]),
        ),
        OutputOptions(out=scene, overwrite=True, progress=study.request.progress),  # cfipt's only
    )
    prepare(request)


def _discard_unreadable_model(study: Study, run: Run, model: Path) -> None:
    """Remove a model folder without a readable model.json (a training killed before its first save,
    or damaged), so that the run trains afresh; only the run's own folder, never what lies elsewhere."""
    runs = study.request.out.resolve()
    own = (
        model.is_dir()
        and not model.is_symlink()
        and not run.folder.is_symlink()
        and model.resolve().parent == run.folder.resolve()
        and run.folder.resolve().is_relative_to(runs)
    )
    if not own:
        raise OutputExistsError(
            f"{model} has no readable model.json and is not the run's own model folder (a link or a "
            f"file), so it is left alone: move it out of {run.folder} and rerun"
        )
    log.warning(
        "%s: %s has no readable model.json (a killed or damaged training): training afresh", run.id, model
    )
    shutil.rmtree(model)


def _train(study: Study, run: Run, scene: Path, model: Path, redo: bool) -> None:
    status = _model_status(model)
    if status is None and (model.exists() or model.is_symlink()):
        _discard_unreadable_model(study, run, model)
    given = {**study.train, "seed": run.seed, "variant": run.variant}
    request = TrainRequest(
        scene=scene,
        out=model,
        given=given,
        resume=not redo and status is not None,  # an interrupted run continues from its last epoch
        overwrite=redo and status is not None,  # a new split: the model of the old one is replaced
        progress=study.request.progress,
    )
    run_training(request)


def _predict(study: Study, scene: Path, model: Path, map_path: Path) -> None:
    request = PredictRequest(
        scene_dir=scene,
        model_dir=model,
        outputs=PredictOutputs(map_path=map_path, overwrite=True),  # only what cfipt wrote (the policy)
        device=str(study.train["device"]),
        pixels="test",  # only the test pixels are scored; the rest of the map is nodata
    )
    run_predict(request)


def execute_run(study: Study, run: Run) -> dict[str, Any]:
    """Bring `run` to its end (see the module's docstring); returns its evaluation report."""
    run.folder.mkdir(parents=True, exist_ok=True)
    scene, model, map_path = run.folder / SCENE_DIR, run.folder / MODEL_DIR, run.folder / MAP_NAME
    redo = not (scene / SCENE_META).is_file()
    if redo:
        log.info("%s: prepare", run.id)
        _prepare(study, run, scene)
    if redo or _model_status(model) != STATUS_COMPLETE:
        log.info("%s: train", run.id)
        _train(study, run, scene, model, redo)
        redo = True
    if redo or not map_path.is_file():
        log.info("%s: predict", run.id)
        _predict(study, scene, model, map_path)
    evaluation = EvaluationRequest(map_path=map_path, reference=scene)
    report = run_evaluation(evaluation, ReportOutputs(base=run.folder / REPORT_BASE, overwrite=True))
    run.mark_finished(report)
    return report
