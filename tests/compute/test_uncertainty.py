"""The three uncertainty measures: their extremes, their order, nodata."""

from __future__ import annotations

import numpy as np
import pytest

from cfipt_cli.compute.uncertainty import MEASURES, uncertainty


@pytest.mark.parametrize("measure", MEASURES)
def test_a_sure_pixel_is_0_and_the_order_follows_doubt(measure):
    proba = np.array([[1.0, 0.0, 0.0], [0.8, 0.15, 0.05], [0.5, 0.3, 0.2], [0.4, 0.35, 0.25]])
    value = uncertainty(proba, measure)
    assert value.dtype == np.float32 and value[0] == 0
    assert (np.diff(value) > 0).all()  # more doubt, more uncertainty


def test_the_maxima_of_each_measure():
    k = 5
    uniform = np.full((1, k), 1 / k)
    assert uncertainty(uniform, "entropy")[0] == pytest.approx(1.0)
    assert uncertainty(uniform, "margin")[0] == pytest.approx(1.0)
    assert uncertainty(uniform, "least")[0] == pytest.approx(1 - 1 / k)
    tie = np.array([[0.45, 0.45, 0.1]])
    assert uncertainty(tie, "margin")[0] == pytest.approx(1.0)  # two best classes tied
    assert uncertainty(tie, "entropy")[0] < 1


def test_the_values_against_their_definitions():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    best = np.sort(p, axis=1)[:, ::-1]
    np.testing.assert_allclose(uncertainty(p, "least"), 1 - best[:, 0], rtol=1e-6)
    np.testing.assert_allclose(uncertainty(p, "margin"), 1 - best[:, 0] + best[:, 1], rtol=1e-6)
    np.testing.assert_allclose(uncertainty(p, "entropy"), -(p * np.log(p)).sum(1) / np.log(4), rtol=1e-6)


def test_nodata_stays_nan_along_any_axis():
    proba = np.full((3, 2, 2), 1 / 3)
    proba[:, 0, 1] = np.nan
    for measure in MEASURES:
        value = uncertainty(proba, measure, axis=0)
        assert value.shape == (2, 2) and np.isnan(value[0, 1]) and np.isfinite(value[1]).all()


def test_one_class_is_never_uncertain():
    assert (uncertainty(np.ones((4, 1)), "entropy") == 0).all()
