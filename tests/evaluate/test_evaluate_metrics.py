"""cfipt_cli.evaluate.metrics against scikit-learn, on arrays (no files)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as sk

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.metrics import accuracy_metrics, cohen_kappa, confusion_matrix, mean_std


def sklearn_figures(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" is the point of some tests
        precision, recall, f1, support = sk.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        return {
            "cm": sk.confusion_matrix(y_true, y_pred, labels=labels),
            "oa": sk.accuracy_score(y_true, y_pred),
            "aa": sk.balanced_accuracy_score(y_true, y_pred),
            "kappa": sk.cohen_kappa_score(y_true, y_pred),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": support,
        }


@pytest.mark.parametrize("seed", range(5))
def test_random_labels_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    y_true = rng.integers(1, k + 1, 3000)
    # A prediction better than chance so that kappa is not ~0.
    y_pred = np.where(rng.random(3000) < 0.6, y_true, rng.integers(1, k + 1, 3000))
    labels = list(range(1, k + 1))
    ours = accuracy_metrics(confusion_matrix(y_true, y_pred, labels))
    ref = sklearn_figures(y_true, y_pred, labels)
    np.testing.assert_array_equal(ours.matrix, ref["cm"])
    assert ours.overall_accuracy == pytest.approx(ref["oa"], abs=1e-12)
    assert ours.average_accuracy == pytest.approx(ref["aa"], abs=1e-12)
    assert ours.kappa == pytest.approx(ref["kappa"], abs=1e-12)
    np.testing.assert_allclose(ours.producer_accuracy, ref["recall"], atol=1e-12)
    np.testing.assert_allclose(ours.user_accuracy, ref["precision"], atol=1e-12)
    np.testing.assert_allclose(ours.f1, ref["f1"], atol=1e-12)
    np.testing.assert_array_equal(ours.reference_pixels, ref["support"])


def test_class_never_predicted():
    rng = np.random.default_rng(7)
    y_true = rng.integers(1, 5, 2000)
    y_pred = np.where(y_true == 3, 1, y_true)  # class 3 is never predicted
    ours = accuracy_metrics(confusion_matrix(y_true, y_pred, [1, 2, 3, 4]))
    ref = sklearn_figures(y_true, y_pred, [1, 2, 3, 4])
    assert ours.producer_accuracy[2] == 0.0
    assert np.isnan(ours.user_accuracy[2])  # undefined, not 0 %
    assert ours.f1[2] == 0.0 == ref["f1"][2]
    assert ours.predicted_pixels[2] == 0
    assert ours.average_accuracy == pytest.approx(ref["aa"], abs=1e-12)
    assert ours.kappa == pytest.approx(ref["kappa"], abs=1e-12)


def test_predicted_class_absent_from_reference():
    rng = np.random.default_rng(8)
    y_true = rng.integers(1, 4, 2000)  # classes 1..3
    y_pred = np.where(rng.random(2000) < 0.1, 4, y_true)  # class 4 predicted, never in the reference
    labels = [1, 2, 3, 4]
    ours = accuracy_metrics(confusion_matrix(y_true, y_pred, labels))
    ref = sklearn_figures(y_true, y_pred, labels)
    assert np.isnan(ours.producer_accuracy[3])  # absent from the reference, not 0 %
    assert not ours.in_reference[3]
    assert ours.user_accuracy[3] == 0.0
    # AA averages the three present classes only; OA and kappa count class 4 as errors.
    assert ours.average_accuracy == pytest.approx(ref["aa"], abs=1e-12)
    assert ours.average_accuracy == pytest.approx(np.mean(ref["recall"][:3]), abs=1e-12)
    assert ours.overall_accuracy == pytest.approx(ref["oa"], abs=1e-12)
    assert ours.overall_accuracy < 0.95
    assert ours.kappa == pytest.approx(ref["kappa"], abs=1e-12)


def test_confusion_matrix_ignores_values_outside_labels():
    y_true = np.array([0, 1, 2, 2, 9])
    y_pred = np.array([1, 1, 0, 2, 2])
    cm = confusion_matrix(y_true, y_pred, [2, 1])  # order of labels = order of rows
    np.testing.assert_array_equal(cm, [[1, 0], [0, 1]])


def test_kappa_undefined_for_a_single_class_everywhere():
    assert np.isnan(cohen_kappa(np.array([[5, 0], [0, 0]])))


def test_empty_or_non_square_matrix_is_a_data_error():
    with pytest.raises(DataError, match="empty"):
        accuracy_metrics(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(DataError, match="square"):
        accuracy_metrics(np.ones((2, 3), dtype=np.int64))


def test_mean_std_skips_undefined_values_and_uses_sample_std():
    values = [0.9, None, 0.8, float("nan"), 0.95]
    mean, std, n = mean_std(values)
    assert n == 3
    assert mean == pytest.approx(np.mean([0.9, 0.8, 0.95]))
    assert std == pytest.approx(np.std([0.9, 0.8, 0.95], ddof=1))
    assert np.isnan(mean_std([0.5])[1])
