"""Design-based estimators for stratified random sampling (Stehman 2014), numpy only.

Stehman, S. V. (2014). Estimating area and map accuracy for stratified random sampling when the strata
are different from the map classes. Int. J. Remote Sensing 35(13), 4923-4939.

Every figure of an accuracy assessment is either the population mean of an indicator y_u measured on
each sample unit (overall accuracy, a class's share of area, a cell of the error matrix), or the ratio
of two such means R = Y / X (user's and producer's accuracy). With N_h pixels and n_h sample units in
stratum h, N = sum N_h, and the sample mean ybar_h, variance s2_yh and covariance s_xyh of stratum h:

- mean (eq. 2):  Ybar = sum_h N_h ybar_h / N
- its variance (eq. 25):  V(Ybar) = (1 / N^2) sum_h N_h^2 (1 - n_h / N_h) s2_yh / n_h
- ratio:  R = sum_h N_h ybar_h / sum_h N_h xbar_h
- its variance (eq. 28):  V(R) = (1 / X^2) sum_h N_h^2 (1 - n_h / N_h) (s2_yh + R^2 s2_xh - 2 R s_xyh) / n_h,
  with X = sum_h N_h xbar_h.

The factor (1 - n_h / N_h) is the finite population correction of sampling without replacement: a
stratum sampled in full (a census) adds no variance. It can be switched off (`Design.corrected`), which
gives the formulas of Olofsson et al. (2013, 2014) exactly.

A stratum with a single sample unit has no sample variance (n_h - 1 = 0); unless it is a census of
itself (N_h = 1), its variance contribution is undefined, and so is every standard error: `Design.
variance_defined` is False and the standard errors are None (never a guess such as 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    """The sampled strata: per unit its stratum (index into `pixels`), N_h and n_h per stratum.

    Every stratum here has N_h >= n_h >= 1; the caller leaves out the strata without sample units.
    """

    stratum: np.ndarray  # (n,) int: the stratum of each sample unit
    pixels: np.ndarray  # (H,) float: N_h
    units: np.ndarray  # (H,) float: n_h
    corrected: bool = True  # apply the finite population correction (1 - n_h / N_h)

    @property
    def population(self) -> float:
        """N, the pixels of the sampled strata."""
        return float(self.pixels.sum())

    @property
    def variance_defined(self) -> bool:
        """False when a stratum has one unit but more than one pixel (its s2 is undefined)."""
        return not bool(np.any((self.units < 2) & (self.pixels > self.units)))

    @property
    def variance_factor(self) -> np.ndarray:
        """N_h^2 (1 - n_h / N_h) / n_h per stratum (without the correction: N_h^2 / n_h)."""
        factor = self.pixels**2 / self.units
        return factor * (1.0 - self.units / self.pixels) if self.corrected else factor


@dataclass(frozen=True)
class Estimates:
    """Estimates of several quantities at once: values and standard errors (NaN: undefined)."""

    value: np.ndarray
    se: np.ndarray | None  # None when the design leaves the variance undefined


def _stratum_means(design: Design, values: np.ndarray) -> np.ndarray:
    """(H, k) per-stratum sample means of the (n, k) indicator columns."""
    sums = np.zeros((design.pixels.size, values.shape[1]))
    np.add.at(sums, design.stratum, values)
    return sums / design.units[:, None]


def _stratum_covariances(design: Design, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, k) per-stratum sample covariances s_abh (divisor n_h - 1; 0 for a single unit)."""
    deviations = (a - _stratum_means(design, a)[design.stratum]) * (
        b - _stratum_means(design, b)[design.stratum]
    )
    sums = np.zeros((design.pixels.size, a.shape[1]))
    np.add.at(sums, design.stratum, deviations)
    degrees = np.maximum(design.units - 1.0, 1.0)  # one unit: sum is 0; `variance_defined` flags it
    return sums / degrees[:, None]


def estimate_means(design: Design, values: np.ndarray) -> Estimates:
    """Population means (proportions of area for 0/1 indicators) of the (n, k) columns, eq. 2 and 25."""
    totals = design.pixels @ _stratum_means(design, values)
    mean = totals / design.population
    if not design.variance_defined:
        return Estimates(mean, None)
    variance = design.variance_factor @ _stratum_covariances(design, values, values)
    return Estimates(mean, np.sqrt(np.maximum(variance, 0.0)) / design.population)


def estimate_ratios(design: Design, numerator: np.ndarray, denominator: np.ndarray) -> Estimates:
    """Ratios R = Y / X of the (n, k) columns, eq. 27 and 28; NaN where X = 0 (no unit has x = 1)."""
    y_means = _stratum_means(design, numerator)
    x_means = _stratum_means(design, denominator)
    y_total = design.pixels @ y_means
    x_total = design.pixels @ x_means
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(x_total > 0, y_total / np.where(x_total > 0, x_total, 1.0), np.nan)
    if not design.variance_defined:
        return Estimates(ratio, None)
    r = np.nan_to_num(ratio)
    spread = (
        _stratum_covariances(design, numerator, numerator)
        + r**2 * _stratum_covariances(design, denominator, denominator)
        - 2.0 * r * _stratum_covariances(design, numerator, denominator)
    )
    variance = design.variance_factor @ spread
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(
            x_total > 0, np.sqrt(np.maximum(variance, 0.0)) / np.where(x_total > 0, x_total, 1.0), np.nan
        )
    return Estimates(ratio, se)
