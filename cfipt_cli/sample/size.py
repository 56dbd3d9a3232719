"""The sample size formula and the allocations of a stratified sample (numbers only, no files).

Size (Olofsson et al. 2014, eq. 13; Cochran 1977): n = (sum_i W_i S_i / S(O))^2 with W_i the share of
the frame in stratum i, S_i = sqrt(U_i (1 - U_i)) the standard deviation of stratum i from its expected
user's accuracy U_i, and S(O) the target standard error of the overall accuracy; rounded up.

Allocations of n among strata of N_h pixels; none gives a stratum more than its N_h pixels:
- proportional: n_h proportional to N_h (largest remainders, so that they sum to n);
- equal: n / H each (the remainder to the largest strata first);
- min-per-class: proportional, but every stratum gets at least min(M, N_h): the strata whose
  proportional share falls short are raised to that minimum and the others share the rest
  proportionally (Olofsson et al. 2014, section 5.1: rare classes get enough points for their UA);
- given: the sizes asked for, each checked against N_h.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cfipt_cli.errors import CfiptUsageError, DataError


def formula_size(weights: Sequence[float], accuracies: Sequence[float], target_se: float) -> int:
    """n = (sum_i W_i S_i / S(O))^2, S_i = sqrt(U_i (1 - U_i)), rounded up (see the module docstring)."""
    spread = sum(w * math.sqrt(u * (1.0 - u)) for w, u in zip(weights, accuracies, strict=True))
    exact = (spread / target_se) ** 2
    return max(1, math.ceil(exact - 1e-9))  # 1e-9: 641.0000000001 from rounding is 641


def apportion(total: int, weights: Sequence[float], caps: Sequence[int]) -> list[int]:
    """`total` points shared in proportion to `weights`, none above its cap, by largest remainders.

    A stratum whose share would pass its cap gets its cap and the others share the rest; ties of the
    remainders go to the earlier stratum. Requires total <= sum(caps).
    """
    sizes = [0] * len(caps)
    free = [i for i, cap in enumerate(caps) if cap > 0 and weights[i] > 0]
    left = total
    while True:
        mass = sum(weights[i] for i in free)
        quotas = {i: left * weights[i] / mass for i in free} if mass > 0 else {}
        full = [i for i in free if quotas[i] >= caps[i]]
        if not full:
            break
        for i in full:
            sizes[i] = caps[i]
            left -= caps[i]
        free = [i for i in free if i not in full]
    floors = {i: math.floor(q) for i, q in quotas.items()}
    for i, q in floors.items():
        sizes[i] = q
    rest = left - sum(floors.values())
    order = sorted(quotas, key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in order[:rest]:
        sizes[i] += 1
    return sizes


def allocate(method: str, n: int, pixels: Sequence[int], minimum: int = 50) -> list[int]:
    """n_h of each stratum for the allocation `method` (proportional, equal, min-per-class).

    Raises:
        DataError: n is larger than the frame.
        CfiptUsageError: the minimum per class asks for more than n points.
    """
    frame = sum(pixels)
    if n > frame:
        raise DataError(
            f"a sample of {n} points is more than the {frame} pixels the map has to draw from (pixels "
            "of its classes, less those excluded); ask for fewer points"
        )
    if method == "proportional":
        return apportion(n, [float(p) for p in pixels], pixels)
    if method == "equal":
        return apportion(n, [1.0 if p > 0 else 0.0 for p in pixels], pixels)
    if method != "min-per-class":
        raise ValueError(f"unknown allocation {method!r}")
    floor = [min(minimum, p) for p in pixels]
    if sum(floor) > n:
        raise CfiptUsageError(
            f"a sample of {n} points is too small for --min-per-class {minimum} over "
            f"{sum(p > 0 for p in pixels)} classes (needs {sum(floor)}); raise -n or lower --min-per-class"
        )
    raised: set[int] = set()
    while True:  # raise the strata whose proportional share falls short of their minimum
        left = n - sum(floor[i] for i in raised)
        others = [i for i in range(len(pixels)) if i not in raised and pixels[i] > 0]
        mass = sum(pixels[i] for i in others)
        short = {i for i in others if left * pixels[i] / mass < floor[i]} if mass else set()
        if not short:
            break
        raised |= short
    weights = [0.0 if i in raised else float(p) for i, p in enumerate(pixels)]
    caps = [0 if i in raised else p for i, p in enumerate(pixels)]
    shares = apportion(left, weights, caps)
    return [floor[i] if i in raised else shares[i] for i in range(len(pixels))]


def check_given(names: Sequence[str], sizes: Sequence[int], pixels: Sequence[int]) -> list[int]:
    """The given sizes, each at most its stratum's pixels (DataError naming the first that is not)."""
    for name, size, available in zip(names, sizes, pixels, strict=True):
        if size > available:
            raise DataError(f"--per-class {name}={size}: the class has {available} pixels to draw from")
    if sum(sizes) == 0:
        raise CfiptUsageError("--per-class asks for no point at all; give at least one class N > 0")
    return list(sizes)
