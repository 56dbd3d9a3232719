"""`python -m cfipt_cli` under torchrun, with rank 1 made slow and each rank's blocks logged.

Used by test_predict_cli.py: CFIPT_TEST_BLOCKS_DIR/rank-<r>.txt gets one block index per line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cfipt_cli.cli.app import main
from cfipt_cli.predict.pipeline import PartStore

RANK = int(os.environ["RANK"])
LOG = Path(os.environ["CFIPT_TEST_BLOCKS_DIR"]) / f"rank-{RANK}.txt"
_save = PartStore.save


def save(self: PartStore, index: int, arrays: dict) -> None:
    if RANK == 1:
        time.sleep(1.0)
    _save(self, index, arrays)
    with LOG.open("a") as handle:
        handle.write(f"{index}\n")


PartStore.save = save  # type: ignore[method-assign]
sys.exit(main(sys.argv[1:]))
