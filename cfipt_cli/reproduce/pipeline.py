"""`cfipt reproduce`: the paper's protocol on a benchmark in one call (see README, "Reproducing the paper").

`reproduce(StudyRequest(...))` checks everything first (the dataset's files, the options, the output
policy: `--out` is a study folder of cfipt's, empty or new, never over an input), plans the runs
(`<variant>/seed-<k>`; a finished run is skipped), and then, unless `dry_run`, runs them (in this
process, or `--jobs` at a time in worker processes, one GPU each) and writes the results tables.
"""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

from cfipt_cli.errors import EXIT_INTERRUPTED, CfiptError, InterruptedRun, OutputExistsError
from cfipt_cli.io import outputs as policy
from cfipt_cli.log import get_logger
from cfipt_cli.reproduce.cost import describe_cost, run_cost
from cfipt_cli.reproduce.parallel import Launcher, gpu_ids, run_parallel, subprocess_launcher
from cfipt_cli.reproduce.results import write_results
from cfipt_cli.reproduce.runner import execute_run
from cfipt_cli.reproduce.study import Run, Study, StudyRequest
from cfipt_cli.reproduce.tables import build_results

log = get_logger(__name__)


def _check_out(study: Study) -> None:
    """--out: not over an input; new, empty or a study folder (of the same protocol unless --overwrite)."""
    request = study.request
    output = policy.Output(request.out, "--out", policy.STUDY)
    inputs: list[tuple[str, Any]] = list(study.files.named())
    if request.config_file is not None:
        inputs.append(("--config file", request.config_file))
    policy.refuse_outputs_over_inputs([output], inputs)
    out = request.out
    if not out.exists() and not out.is_symlink():
        return
    empty = out.is_dir() and not any(out.iterdir())
    if out.is_symlink() or not (empty or policy.STUDY.recognise(out)):
        raise OutputExistsError(
            f"{out} is not a cfipt study folder (it has no study.json of cfipt reproduce); reproduce writes "
            "only into its own folder, so it is left alone: choose another --out"
        )
    if not request.overwrite:
        study.check_same_protocol()


def plan_study(request: StudyRequest) -> tuple[Study, list[Run], list[Run]]:
    """The checked study, its runs to do and the finished runs to skip (none with --overwrite)."""
    study = Study.resolve(request)
    _check_out(study)
    runs = request.runs()
    if request.overwrite:
        return study, runs, []
    return study, [r for r in runs if not r.finished()], [r for r in runs if r.finished()]


def _plan_summary(study: Study, todo: list[Run], skip: list[Run]) -> dict[str, Any]:
    cost = run_cost(study)
    return {
        "dataset": study.dataset.key,
        "out": str(study.request.out),
        "files": study.files.to_json(),
        "runs_to_do": [r.id for r in todo],
        "runs_to_skip": [r.id for r in skip],
        "cost": {
            **dataclasses.asdict(cost),
            "runs": len(todo),
            "total_steps": cost.steps * len(todo),
            "total_predicted_pixels": cost.test_pixels * len(todo),
        },
        "cost_line": describe_cost(cost, len(todo)),
        "dry_run": study.request.dry_run,
    }


def _run_all(study: Study, todo: list[Run], launch: Launcher | None) -> None:
    request = study.request
    if request.jobs == 1:
        for number, run in enumerate(todo, 1):
            log.info("run %d of %d: %s", number, len(todo), run.id)
            try:
                execute_run(study, run)
            except (KeyboardInterrupt, CfiptError) as exc:
                if isinstance(exc, CfiptError) and exc.exit_code != EXIT_INTERRUPTED:
                    raise
                raise InterruptedRun(
                    f"interrupted in run {run.id} ({number - 1} of {len(todo)} runs finished); rerun the "
                    "same cfipt reproduce command to resume (finished runs are skipped, this one continues)"
                ) from None
        return
    gpus = gpu_ids(request.jobs)
    try:
        run_parallel(todo, request.jobs, gpus, launch or subprocess_launcher(request.out))
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: each keeps what its run finished
        raise InterruptedRun(
            "interrupted; the finished runs are kept and the others resume where they stopped: rerun the "
            "same cfipt reproduce command"
        ) from None


def reproduce(request: StudyRequest, launch: Launcher | None = None) -> dict[str, Any]:
    """Plan, run and tabulate a study (or only plan it with `dry_run`); returns the plan and the
    results' paths and figures. `launch` replaces the worker processes of `--jobs` (tests)."""
    study, todo, skip = plan_study(request)
    summary = _plan_summary(study, todo, skip)
    if request.dry_run:
        return summary
    out = request.out
    with policy.locked_outputs([out]):
        if request.overwrite and out.exists():
            shutil.rmtree(out)  # a study folder of cfipt's (checked above): start afresh
        out.mkdir(parents=True, exist_ok=True)
        study.write_record()
        _run_all(study, todo, launch)
        every_run = dataclasses.replace(request, only=None).runs()  # --only: the tables still cover them all
        finished = [r for r in every_run if r.finished()]
        results = build_results(study, finished)
        paths = write_results(results, out)
    return {**summary, "results": [str(p) for p in paths], "figures": results["ablation"]}
