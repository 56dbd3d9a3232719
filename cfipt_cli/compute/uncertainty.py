"""How unsure the model is at a pixel, from its class probabilities: 0 = sure, 1 = as unsure as can be.

The three measures of uncertainty sampling (Settles 2009), each scaled to [0, 1]:

- `entropy`: the Shannon entropy of the probabilities divided by log K (1 when all K classes are
  equally likely);
- `margin`: 1 - (p1 - p2), the two best classes (1 when they tie);
- `least`: 1 - p1, least confidence (at most 1 - 1/K).

`predict --uncertainty` writes them, `suggest` ranks pixels by them; both call `uncertainty`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MEASURES = ("entropy", "margin", "least")
MEASURE_NAMES = {
    "entropy": "normalised entropy",
    "margin": "1 - margin of the two best classes",
    "least": "1 - max class probability",
}


def uncertainty(proba: np.ndarray, measure: str, axis: int = -1) -> np.ndarray:
    """The uncertainty of each pixel of `proba` (probabilities along `axis`), float32, in [0, 1].

    NaN probabilities (nodata) give NaN. One class only: 0 everywhere (there is nothing to doubt).
    """
    import numpy as np  # here: the CLI reads MEASURES at --help time

    if measure not in MEASURES:
        raise ValueError(f"unknown uncertainty measure {measure!r}; use one of {', '.join(MEASURES)}")
    p = np.moveaxis(np.asarray(proba, dtype=np.float64), axis, -1)
    k = p.shape[-1]
    if k < 2:
        return np.where(np.isnan(p).any(axis=-1), np.nan, 0.0).astype(np.float32)
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, p * np.log(p), 0.0)  # 0 log 0 = 0
        terms = np.where(np.isnan(p), np.nan, terms)
        value = -terms.sum(axis=-1) / np.log(k)
    else:
        top2 = -np.partition(-np.nan_to_num(p, nan=-1.0), 1, axis=-1)[..., :2]  # p1 >= p2
        value = 1.0 - (top2[..., 0] - top2[..., 1]) if measure == "margin" else 1.0 - top2[..., 0]
        value = np.where(np.isnan(p).any(axis=-1), np.nan, value)
    return np.clip(value, 0.0, 1.0).astype(np.float32)
