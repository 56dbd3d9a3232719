"""Accuracy metrics from one confusion matrix (rows = reference, columns = prediction). numpy only.

Definitions follow scikit-learn's (and the remote-sensing literature's):

- OA = trace / total.
- producer's accuracy (recall) of class i = C[i, i] / row_i; undefined (NaN) when the class is absent
  from the reference (row_i = 0): such a class is reported as absent, never as 0 %.
- user's accuracy (precision) of class i = C[i, i] / col_i; undefined (NaN) when never predicted.
- F1 of class i = 2 C[i, i] / (row_i + col_i), which equals 2PU / (P + U) where both exist and is 0 when
  the class is in only one of the two maps (scikit-learn with zero_division=0).
- AA = mean producer's accuracy over the classes present in the reference (scikit-learn's
  balanced_accuracy_score).
- Cohen's kappa = (p_o - p_e) / (1 - p_e), p_e = sum_i row_i col_i / N^2; NaN when p_e = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cfipt_cli.errors import DataError


def confusion_matrix(reference: np.ndarray, prediction: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Count (reference, prediction) pairs; entry [i, j] = pixels of labels[i] predicted as labels[j].

    Pairs where either value is not in `labels` are ignored (nodata, unlabelled).

    Args:
        reference: reference class ids, any shape.
        prediction: predicted class ids, same shape as `reference`.
        labels: the class ids that index the rows and columns, in order.

    Returns:
        A (K, K) int64 matrix, K = len(labels).
    """
    ref = np.asarray(reference).ravel()
    pred = np.asarray(prediction).ravel()
    if ref.shape != pred.shape:
        raise DataError(f"reference and prediction differ in size ({ref.size} vs {pred.size})")
    k = len(labels)
    ri, pi = _index_of(ref, labels), _index_of(pred, labels)
    keep = (ri >= 0) & (pi >= 0)
    counts = np.bincount(ri[keep] * k + pi[keep], minlength=k * k)
    return counts.reshape(k, k).astype(np.int64)


def _index_of(values: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Position of each value in `labels`, -1 where it is not a label."""
    lab = np.asarray(labels, dtype=np.int64)
    if lab.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    order = np.argsort(lab)
    pos = np.clip(np.searchsorted(lab[order], values), 0, lab.size - 1)
    found = lab[order][pos] == values
    return np.where(found, order[pos], -1).astype(np.int64)


@dataclass(frozen=True)
class AccuracyMetrics:
    """Every accuracy figure of one confusion matrix. Per-class arrays follow the matrix's order;
    undefined values are NaN (see the module docstring)."""

    matrix: np.ndarray
    overall_accuracy: float
    average_accuracy: float
    kappa: float
    producer_accuracy: np.ndarray
    user_accuracy: np.ndarray
    f1: np.ndarray
    reference_pixels: np.ndarray
    predicted_pixels: np.ndarray
    correct: np.ndarray

    @property
    def n_pixels(self) -> int:
        """Pixels counted in the matrix."""
        return int(self.matrix.sum())

    @property
    def in_reference(self) -> np.ndarray:
        """Boolean per class: present in the reference (the classes AA averages over)."""
        return self.reference_pixels > 0


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def cohen_kappa(matrix: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix; NaN when chance agreement is 1 (a single class everywhere)."""
    cm = np.asarray(matrix, dtype=np.float64)
    total = cm.sum()
    p_o = np.trace(cm) / total
    p_e = float(cm.sum(axis=1) @ cm.sum(axis=0)) / total**2
    return float("nan") if p_e >= 1.0 else float((p_o - p_e) / (1.0 - p_e))


def accuracy_metrics(matrix: np.ndarray) -> AccuracyMetrics:
    """OA, AA, kappa and per-class producer's / user's accuracy, F1 and counts of a confusion matrix.

    Args:
        matrix: (K, K) counts, rows = reference, columns = prediction.

    Raises:
        DataError: the matrix is not square or counts no pixel.
    """
    cm = np.asarray(matrix, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise DataError(f"a confusion matrix must be square, got shape {cm.shape}")
    total = int(cm.sum())
    if total == 0:
        raise DataError("the confusion matrix is empty: no pixel has both a reference and a predicted class")
    correct = np.diag(cm).copy()
    rows, cols = cm.sum(axis=1), cm.sum(axis=0)
    producer = _ratio(correct, rows)
    present = rows > 0
    return AccuracyMetrics(
        matrix=cm,
        overall_accuracy=float(correct.sum() / total),
        average_accuracy=float(producer[present].mean()),
        kappa=cohen_kappa(cm),
        producer_accuracy=producer,
        user_accuracy=_ratio(correct, cols),
        f1=_ratio(2 * correct, rows + cols),
        reference_pixels=rows,
        predicted_pixels=cols,
        correct=correct,
    )


def mean_std(values: Sequence[float], ddof: int = 1) -> tuple[float, float, int]:
    """Mean and standard deviation of the defined (non-NaN) values, and how many there were.

    The standard deviation is the sample one (ddof=1) by default; NaN when fewer than ddof + 1 values.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    n = int(arr.size)
    mean = float(arr.mean()) if n else float("nan")
    std = float(arr.std(ddof=ddof)) if n > ddof else float("nan")
    return mean, std, n
