"""The cost of a study before it runs, counted in work rather than seconds (which depend on the GPU).

Per run: training steps = epochs x ceil(training pixels / batch size) (an epoch draws about as many
samples as there are training pixels), and predicted pixels = the test pixels (the only ones scored).
Training pixels per class are min(N, labelled) (a class with N or fewer labelled pixels trains on half
of them without test labels); the counts come from the label files, read once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfipt_cli.errors import DataError
from cfipt_cli.io.matfiles import is_mat, open_mat
from cfipt_cli.reproduce.study import Study


def label_counts(path: Path) -> dict[int, int]:
    """Labelled pixels per class id (0 = unlabelled) of a label raster or .mat label array."""
    if is_mat(path):
        array = open_mat(path)
        try:
            values = array.read(0, 0, array.shape[1], array.shape[2])[0]
        finally:
            array.close()
    else:
        import rasterio

        from cfipt_cli.io.gdal import gdal_errors, gdal_message

        try:
            with rasterio.open(path) as src:
                values = src.read(1)
        except gdal_errors() as exc:
            raise DataError(
                f"cannot read the labels {path} as a label raster ({gdal_message(exc)}); reproduce takes label "
                "rasters or .mat label arrays"
            ) from exc
    ids, counts = np.unique(np.asarray(values).astype(np.int64), return_counts=True)
    return {int(i): int(n) for i, n in zip(ids, counts, strict=True) if i > 0}


@dataclass(frozen=True)
class RunCost:
    train_pixels: int
    test_pixels: int
    steps: int
    batch_size: int


def run_cost(study: Study) -> RunCost:
    """The work of one run (every run of a study does the same amount)."""
    n = study.request.train_per_class
    labelled = label_counts(study.files.labels)
    independent = study.files.test_labels is not None
    train = {c: (k if independent else max(1, k // 2)) if k <= n else n for c, k in labelled.items()}
    if independent:
        test_counts = label_counts(study.files.test_labels)  # type: ignore[arg-type]
        test = sum(k for c, k in test_counts.items() if c in labelled)
    else:
        test = sum(labelled.values()) - sum(train.values())
    batch = int(study.train["batch_size"])
    steps = int(study.train["epochs"]) * math.ceil(sum(train.values()) / batch)
    return RunCost(sum(train.values()), test, steps, batch)


def describe_cost(cost: RunCost, runs: int) -> str:
    """One line: training steps and predicted pixels of `runs` runs."""
    return (
        f"cost of {runs} runs: {runs * cost.steps} training steps ({cost.steps} per run, batches of "
        f"{cost.batch_size}, {cost.train_pixels} training pixels) and {runs * cost.test_pixels} predicted "
        f"pixels ({cost.test_pixels} test pixels per run); each sample is one patch through the CLIP "
        "towers, so the time is about (steps x batch x 3 + predicted pixels) forward passes"
    )
