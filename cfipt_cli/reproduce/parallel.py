"""`--jobs N`: up to N runs at a time, each in its own process; on GPUs one run per GPU at a time.

A GPU study (`--device cuda`, or `auto` where CUDA is) uses the GPUs CUDA_VISIBLE_DEVICES lists (else
every GPU torch sees): slot i runs on GPU i, and `--jobs` above the number of GPUs is capped at it (a
warning says so), so two runs never share a GPU. Each worker sees only its GPU, as cuda:0; a study's
`--device cuda:N` is refused with `--jobs` (`study.Study.resolve`). A CPU study runs N worker
processes at a time, which share the machine's cores, and hides the GPUs from them. A slot takes the
next waiting run when its run ends, so a slow run never holds up the others. A worker is `python -m
cfipt_cli.reproduce.worker RUNS RUN`: it takes the study from RUNS/study.json, so it runs exactly what
the parent planned.
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

from cfipt_cli.errors import CfiptUsageError, DeviceUnavailableError
from cfipt_cli.reproduce.study import Run

# launch(run, gpu) -> (exit code, last line of its stderr); gpu is the worker's CUDA_VISIBLE_DEVICES
Launcher = Callable[[Run, str], tuple[int, str]]
NO_GPU = ""  # the CUDA_VISIBLE_DEVICES of a CPU study's workers: they see no GPU


def cuda_device_count() -> int:
    """The GPUs torch sees here (it honours CUDA_VISIBLE_DEVICES); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_ids(environ: Mapping[str, str] | None = None, count: Callable[[], int] | None = None) -> list[str]:
    """The GPUs a study may use: CUDA_VISIBLE_DEVICES' entries when set, else 0..n-1 for the n GPUs
    `count` (torch) sees; none when it sees none."""
    env = os.environ if environ is None else environ
    seen = (count or cuda_device_count)()
    if seen == 0:
        return []
    listed = [g.strip() for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return listed if "CUDA_VISIBLE_DEVICES" in env else [str(i) for i in range(seen)]


@dataclass(frozen=True)
class Slots:
    """The CUDA_VISIBLE_DEVICES of each slot's worker (one slot per concurrent run) and, when --jobs
    was capped, the warning that says so."""

    gpus: list[str]
    warning: str | None = None


def plan_slots(jobs: int, device: str, gpus: Sequence[str]) -> Slots:
    """The slots of `--jobs` for a study on `device` (its resolved `--device`) with `gpus` visible."""
    device = device.strip().lower()
    if device == "cpu" or (device == "auto" and not gpus):
        return Slots([NO_GPU] * jobs)  # CPU: the N processes share the cores
    if device != "cuda" and device != "auto":
        raise CfiptUsageError(f"--jobs {jobs} gives each run its own GPU; pass --device cuda, not {device}")
    if not gpus:
        raise DeviceUnavailableError(
            f"--device {device} --jobs {jobs}: no GPU is visible here; use --device cpu or auto"
        )
    if jobs <= len(gpus):
        return Slots(list(gpus[:jobs]))
    return Slots(
        list(gpus),
        f"--jobs {jobs}: only {len(gpus)} GPU(s) visible ({','.join(gpus)}), so {len(gpus)} runs at a "
        "time, one per GPU",
    )


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


def run_parallel(runs: Sequence[Run], slots: Sequence[str], launch: Launcher) -> list[Outcome]:
    """Run `runs` on one thread per slot (slot i's worker sees `slots[i]`); returns every outcome,
    failed ones included (a failed run does not stop the others)."""
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

    threads = [threading.Thread(target=slot, args=(g,), daemon=True) for g in slots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
