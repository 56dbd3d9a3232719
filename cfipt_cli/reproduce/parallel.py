"""`--jobs N`: N runs at a time, each in its own process pinned to one GPU through CUDA_VISIBLE_DEVICES.

The GPUs are those CUDA_VISIBLE_DEVICES lists (all the parent may use), else 0..N-1; slot i of the N
works on GPU i (modulo their number), taking the next waiting run when its run ends, so a slow run
never holds up the others. A worker is `python -m cfipt_cli.reproduce.worker RUNS RUN`: it takes the
study from RUNS/study.json, so it runs exactly what the parent planned.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.errors import DataError
from cfipt_cli.reproduce.study import Run

# launch(run, gpu) -> (exit code, last line of its stderr)
Launcher = Callable[[Run, str], tuple[int, str]]


def gpu_ids(jobs: int, environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs to share among `jobs` slots: CUDA_VISIBLE_DEVICES' entries, else 0..jobs-1."""
    env = os.environ if environ is None else environ
    listed = [g.strip() for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return listed or [str(i) for i in range(jobs)]


def slot_gpus(jobs: int, gpus: Sequence[str]) -> list[str]:
    """The GPU of each of the `jobs` slots (round robin when there are more slots than GPUs)."""
    return [gpus[i % len(gpus)] for i in range(jobs)]


def subprocess_launcher(out: Path) -> Launcher:
    """Run one run in a child process that sees only its GPU."""

    def launch(run: Run, gpu: str) -> tuple[int, str]:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
        argv = [sys.executable, "-m", "cfipt_cli.reproduce.worker", str(out), run.id]
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return done.returncode, lines[-1] if lines else ""

    return launch


@dataclass(frozen=True)
class Outcome:
    run: Run
    gpu: str
    code: int
    message: str


def run_parallel(runs: Sequence[Run], jobs: int, gpus: Sequence[str], launch: Launcher) -> list[Outcome]:
    """Run `runs` on `jobs` slots (slot i on `slot_gpus(jobs, gpus)[i]`); returns every outcome.

    Raises:
        DataError: after every run ended, when any failed, naming them and their last error line.
    """
    waiting: queue.Queue[Run] = queue.Queue()
    for run in runs:
        waiting.put(run)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def slot(gpu: str) -> None:
        while True:
            try:
                run = waiting.get_nowait()
            except queue.Empty:
                return
            code, message = launch(run, gpu)
            with lock:
                outcomes.append(Outcome(run, gpu, code, message))

    threads = [threading.Thread(target=slot, args=(g,), daemon=True) for g in slot_gpus(jobs, gpus)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = [o for o in outcomes if o.code != 0]
    if failed:
        named = "; ".join(f"{o.run.id} (exit {o.code}: {o.message})" for o in failed[:3])
        raise DataError(f"{len(failed)} of {len(runs)} runs failed: {named}; rerun to retry them")
    return outcomes
