"""`cfipt reproduce`: the paper's protocol on a benchmark in one call (see README, "Reproducing the paper").

`reproduce(StudyRequest(...))` checks everything first (the dataset's files, the options, the output
policy: `--out` is a study folder of cfipt's, empty or new, never over an input), plans the runs
(`<variant>/seed-<k>`; a finished run is skipped), and then, unless `dry_run`, runs them (in this
process, or `--jobs` at a time in worker processes, one GPU each) and writes the results tables of the
finished runs; when a run failed, the others still run, the tables mark it missing and the call then
raises one line naming the failed runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from cfipt_cli.errors import (
    EXIT_INTERRUPTED,
    CfiptError,
    CfiptUsageError,
    DataError,
    DeviceUnavailableError,
    InterruptedRun,
    OutputExistsError,
    from_model_error,
)
from cfipt_cli.io import outputs as policy
from cfipt_cli.log import get_logger
from cfipt_cli.reproduce.cost import describe_cost, run_cost
from cfipt_cli.reproduce.discard import discard_study
from cfipt_cli.reproduce.parallel import (
    Launcher,
    Slots,
    gpu_ids,
    plan_slots,
    run_parallel,
    subprocess_launcher,
)
from cfipt_cli.reproduce.results import write_results
from cfipt_cli.reproduce.runner import execute_run
from cfipt_cli.reproduce.study import Run, Study, StudyRequest
from cfipt_cli.reproduce.tables import build_results

log = get_logger(__name__)

SAME_FOR_EVERY_RUN = (CfiptUsageError, DeviceUnavailableError)  # a setting, not a run's data


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


def _run_in_process(study: Study, todo: list[Run]) -> dict[str, str]:
    """Run `todo` one after the other; returns the failed runs' error lines (the others still run)."""
    failed: dict[str, str] = {}
    for number, run in enumerate(todo, 1):
        log.info("run %d of %d: %s", number, len(todo), run.id)
        try:
            execute_run(study, run)
        except (KeyboardInterrupt, CfiptError) as exc:
            if isinstance(exc, CfiptError) and exc.exit_code != EXIT_INTERRUPTED:
                failed[run.id] = str(exc)
                log.error("%s failed: %s", run.id, exc)
                if isinstance(exc, SAME_FOR_EVERY_RUN):
                    break  # the next runs would fail the same way: they are left "not run"
                continue
            raise InterruptedRun(
                f"interrupted in run {run.id} ({number - 1 - len(failed)} of {len(todo)} runs finished); "
                "rerun the same cfipt reproduce command to resume (finished runs are skipped, this one "
                "continues)"
            ) from None
        except Exception as exc:  # an error of the models package, in the CLI's terms; else a bug
            converted = from_model_error(exc)
            if converted is None:
                raise
            failed[run.id] = str(converted)
            log.error("%s failed: %s", run.id, converted)
    return failed


def _run_in_workers(study: Study, todo: list[Run], slots: Slots, launch: Launcher | None) -> dict[str, str]:
    try:
        outcomes = run_parallel(todo, slots.gpus, launch or subprocess_launcher(study.request.out))
    except KeyboardInterrupt:  # the workers got the same Ctrl-C: each keeps what its run finished
        raise InterruptedRun(
            "interrupted; the finished runs are kept and the others resume where they stopped: rerun the "
            "same cfipt reproduce command"
        ) from None
    return {o.run.id: f"exit {o.code}: {o.message}" for o in outcomes if o.code != 0}


def _slots(study: Study) -> Slots:
    """The worker slots of `--jobs` (capped at the visible GPUs on a GPU study, with a warning)."""
    slots = plan_slots(study.request.jobs, str(study.train["device"]), gpu_ids())
    if slots.warning:
        log.warning("%s", slots.warning)
    return slots


def _discard(out: Path) -> None:
    """--overwrite: remove what the study wrote in `out`; anything else stays (and is named)."""
    kept = discard_study(out)
    if kept:
        shown = ", ".join(str(p.relative_to(out)) for p in kept[:5]) + (", ..." if len(kept) > 5 else "")
        log.warning("--overwrite keeps %d file(s) in %s that cfipt did not write: %s", len(kept), out, shown)


def _failure_line(failed: dict[str, str], todo: list[Run], finished: list[Run], out: Path) -> str:
    named = "; ".join(f"{run} ({message})" for run, message in list(failed.items())[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    return (
        f"{len(failed)} of {len(todo)} runs failed: {named}{more}; the tables in {out} cover the "
        f"{len(finished)} finished runs (the failed ones are marked missing); rerun to retry them"
    )


def reproduce(request: StudyRequest, launch: Launcher | None = None) -> dict[str, Any]:
    """Plan, run and tabulate a study (or only plan it with `dry_run`); returns the plan and the
    results' paths and figures. `launch` replaces the worker processes of `--jobs` (tests)."""
    study, todo, skip = plan_study(request)
    summary = _plan_summary(study, todo, skip)
    if request.dry_run:
        return summary
    out = request.out
    slots = _slots(study) if request.jobs > 1 else None  # before any work: a GPU study without GPUs
    with policy.locked_outputs([out]):
        if request.overwrite and out.exists():
            _discard(out)  # a study folder of cfipt's (checked above): start afresh
        out.mkdir(parents=True, exist_ok=True)
        study.write_record()
        failed = (
            _run_in_process(study, todo) if slots is None else _run_in_workers(study, todo, slots, launch)
        )
        every_run = dataclasses.replace(request, only=None).runs()  # --only: the tables still cover them all
        finished = [r for r in every_run if r.finished()]
        results = build_results(study, finished, every_run, failed)
        paths = write_results(results, out)
    if failed:  # the finished runs' tables are written; the command still fails
        raise DataError(_failure_line(failed, todo, finished, out))
    return {**summary, "results": [str(p) for p in paths], "figures": results["ablation"]}
