"""The resume state: a work folder `.<map>.parts/` beside the map with one part file per finished block.

A rerun of the same job (`job_identity`: scene, model, block size, outputs asked, precision, device)
skips every block with a part; another job starts afresh. A part is written under a temporary name and
renamed, so a killed run leaves only whole parts; its claims (`cfipt_cli.predict.ranks`) are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cfipt_cli.errors import DataError, InterruptedRun
from cfipt_cli.log import get_logger

if TYPE_CHECKING:
    from cfipt_cli.predict.plan import PredictPlan
    from cfipt_cli.predict.settings import PredictSettings

log = get_logger(__name__)

PARTS_FORMAT = "cfipt-predict-parts"
PARTS_FORMAT_VERSION = 1
JOB_NAME = "job.json"


class PartStore:
    """The work folder `.<map>.parts/` beside the map: `job.json` plus one `.npz` per finished block.

    A part is written under a temporary name and renamed, so a killed run leaves only whole parts.
    """

    def __init__(self, map_path: Path):
        self.root = map_path.parent / f".{map_path.name}.parts"

    def part(self, index: int) -> Path:
        return self.root / f"block-{index:06d}.npz"

    def count_parts(self) -> int:
        """How many finished blocks the work folder holds (0 when there is none)."""
        return len(list(self.root.glob("block-*.npz"))) if self.root.exists() else 0

    def prepare(self, job: dict[str, Any]) -> int:
        """Keep the parts of the same job (returns how many), discard those of any other."""
        job_path = self.root / JOB_NAME
        if job_path.is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError, UnicodeDecodeError):
                if json.loads(job_path.read_text(encoding="utf-8")) == job:
                    self.drop_claims()
                    for leftover in self.root.glob(".block-*.tmp-*"):  # half parts of a killed run
                        leftover.unlink()
                    return self.count_parts()
        if self.root.exists():
            log.warning("discarding the unfinished parts of a different earlier run in %s", self.root)
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        job_path.write_text(json.dumps(job, indent=1) + "\n", encoding="utf-8")
        return 0

    def has(self, index: int) -> bool:
        return self.part(index).is_file()

    def claim(self, index: int) -> bool:
        """Claim block `index` for this process: True for exactly one caller, across ranks and nodes."""
        try:
            os.close(os.open(self.root / f"claim-{index:06d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        return True

    def claimed(self) -> int:
        """How many blocks are claimed."""
        with os.scandir(self.root) as entries:
            return sum(1 for e in entries if e.name.startswith("claim-"))

    def drop_claims(self) -> None:
        """Forget the claims of an earlier run (blocks without a part are computed again)."""
        for path in self.root.glob("claim-*"):
            path.unlink(missing_ok=True)

    def save(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        tmp = self.root / f".block-{index:06d}.tmp-{os.getpid()}"
        with tmp.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)
        os.replace(tmp, self.part(index))

    def load(self, index: int) -> dict[str, np.ndarray]:
        try:
            with np.load(self.part(index)) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.part(index)} is corrupt ({exc}); delete {self.root} and rerun") from exc

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def job_identity(
    plan: PredictPlan, settings: PredictSettings, model_id: str, device_type: str
) -> dict[str, Any]:
    """What makes two runs produce the same parts: scene, model, block size, outputs asked, precision."""
    stat = plan.scene.stack_path.stat()
    return {
        "format": PARTS_FORMAT,
        "format_version": PARTS_FORMAT_VERSION,
        "scene": str(plan.scene.root.resolve()),
        "stack": [stat.st_size, stat.st_mtime_ns],
        "model": model_id,
        "classes": plan.info.classes.to_json(),
        "patch_size": plan.info.patch_size,
        "block_size": settings.block_size,
        "batch_size": settings.batch_size,  # CPU results depend in their last bits on the batches
        "proba": plan.outputs.proba_path is not None,
        "confidence": plan.outputs.confidence_path is not None,
        "uncertainty": plan.outputs.uncertainty_measure if plan.outputs.uncertainty_path else None,
        "pixels": plan.pixels,
        "amp": settings.amp,
        "device": device_type,  # CPU and CUDA parts may differ in the last bits: never mixed
    }


@contextlib.contextmanager
def keeping_parts(store: PartStore, total: int, owner: bool) -> Generator[None, None, None]:
    """On Ctrl-C say what is kept (exit 130); on any failure drop a work folder that holds no part."""
    try:
        yield
    except BaseException as exc:
        saved = store.count_parts()
        if owner and saved == 0:
            store.remove()
        if not isinstance(exc, KeyboardInterrupt):
            raise
        if saved == 0:
            raise InterruptedRun("interrupted; no output was written") from None
        raise InterruptedRun(
            f"interrupted; {saved} of {total} blocks are saved in {store.root}: rerun the same command "
            "to resume"
        ) from None
