"""`python -m cfipt_cli` under torchrun, with rank 1 made slow and each rank's blocks logged.

Used by test_predict_cli.py: CFIPT_TEST_BLOCKS_DIR/rank-<r>.txt gets one block index per line.
"Slow" is a matter of order, not of seconds, so that the test holds on a loaded machine: rank 0
saves nothing until rank 1 has saved its first block (rank 1 gets at least one), and rank 1 saves
its k-th block only once rank 0 has saved 2 (k - 1) blocks, or every other block is done.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cfipt_cli.cli.app import main
from cfipt_cli.predict.parts import PartStore

RANK = int(os.environ["RANK"])
FOLDER = Path(os.environ["CFIPT_TEST_BLOCKS_DIR"])
LOG = FOLDER / f"rank-{RANK}.txt"
TOTAL_BLOCKS = 12  # the test's scene at --block-size 4
WAIT_LIMIT_S = 120.0  # a safety net only: the order above never needs it
_save = PartStore.save


def _saved(rank: int) -> int:
    path = FOLDER / f"rank-{rank}.txt"
    return len(path.read_text().split()) if path.exists() else 0


def _wait_until(ready: Callable[[], bool]) -> None:
    give_up = time.monotonic() + WAIT_LIMIT_S
    while not ready() and time.monotonic() < give_up:
        time.sleep(0.02)


def save(self: PartStore, index: int, arrays: dict) -> None:
    if RANK == 0:
        _wait_until(lambda: _saved(1) >= 1)
    else:
        mine = _saved(1)
        _wait_until(lambda: mine == 0 or _saved(0) >= 2 * mine or _saved(0) + mine + 1 >= TOTAL_BLOCKS)
    _save(self, index, arrays)
    with LOG.open("a") as handle:
        handle.write(f"{index}\n")


PartStore.save = save  # type: ignore[method-assign]
sys.exit(main(sys.argv[1:]))
