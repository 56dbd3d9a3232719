"""The labelling loop closes: suggest -> (oracle) labels -> prepare with several --labels and
`--train-per-class all` -> train --init-from -> predict --pixels test -> evaluate, as
`benchmarks/active_labelling.py` runs it (tiny sizes; its figures are not asserted)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "active_labelling.py"
pytestmark = pytest.mark.filterwarnings("ignore:backbone cfipt-tiny has random weights")


def _benchmark():
    spec = importlib.util.spec_from_file_location("bench_active_labelling", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_round_adds_exactly_the_suggested_pixels_and_keeps_the_test_set(tmp_path):
    bench = _benchmark()
    args = argparse.Namespace(
        size=24, classes=3, test_share=0.4, start=3, add=6, epochs=2, finetune_epochs=1, min_distance=3
    )
    study = bench.Study(tmp_path, 0, args)
    oa0, scene0, model0 = study.round_oa("round0", study.start, None)
    added = study.additions("active", study.start, scene0, model0, 1)
    assert len(np.unique(added)) == 6
    assert not study.test.flat[added].any() and not study.start.flat[added].any()  # eligible only
    labels = study.start.copy()
    labels.flat[added] = study.truth.flat[added]
    oa1, scene1, model1 = study.round_oa("round1", labels, model0)
    with rasterio.open(scene1 / "train_labels.tif") as src:
        train1 = src.read(1)
    with rasterio.open(scene1 / "test_labels.tif") as src, rasterio.open(scene0 / "test_labels.tif") as src0:
        test1, test0 = src.read(1), src0.read(1)
    np.testing.assert_array_equal(train1, labels)  # every label trains, the suggestions included
    np.testing.assert_array_equal(test1, test0)  # the test set does not move
    record = json.loads((model1 / "model.json").read_text())
    assert Path(record["init_from"]["path"]).resolve() == model0.resolve()
    assert 0 <= oa0 <= 1 and 0 <= oa1 <= 1
