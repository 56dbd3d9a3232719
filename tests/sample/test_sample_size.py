"""The sample-size formula against a hand computation, and the allocations' arithmetic."""

from __future__ import annotations

import math

import pytest

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.sample.size import allocate, apportion, check_given, formula_size


def test_the_formula_gives_olofsson_2014s_641_points() -> None:
    # Olofsson et al. 2014, section 5.1: W = 0.02, 0.015, 0.32, 0.645; U = 0.7, 0.6, 0.9, 0.95; S(O) 0.01.
    weights, accuracies = [0.02, 0.015, 0.32, 0.645], [0.7, 0.6, 0.9, 0.95]
    by_hand = (
        0.02 * math.sqrt(0.21) + 0.015 * math.sqrt(0.24) + 0.32 * math.sqrt(0.09) + 0.645 * math.sqrt(0.0475)
    )
    assert by_hand == pytest.approx(0.25309, abs=1e-5)
    assert formula_size(weights, accuracies, 0.01) == math.ceil((by_hand / 0.01) ** 2) == 641


def test_the_formula_rounds_up_and_halves_with_twice_the_standard_error() -> None:
    assert formula_size([1.0], [0.5], 0.05) == 100  # (0.5 / 0.05)^2 exactly
    assert formula_size([1.0], [0.5], 0.1) == 25
    assert formula_size([0.5, 0.5], [0.9, 0.8], 0.02) == math.ceil(((0.5 * 0.3 + 0.5 * 0.4) / 0.02) ** 2)


PIXELS = [628, 1883, 1056, 155, 0, 12]


@pytest.mark.parametrize("method", ["proportional", "equal", "min-per-class"])
@pytest.mark.parametrize("n", [1, 7, 100, 300, 1000, 3000, sum(PIXELS)])
def test_allocations_sum_to_n_and_never_pass_a_stratum(method: str, n: int) -> None:
    if method == "min-per-class" and n < sum(min(20, p) for p in PIXELS):
        with pytest.raises(CfiptUsageError, match="too small for --min-per-class 20"):
            allocate(method, n, PIXELS, 20)
        return
    sizes = allocate(method, n, PIXELS, 20)
    assert sum(sizes) == n
    assert all(0 <= s <= p for s, p in zip(sizes, PIXELS, strict=True))
    if method == "min-per-class":
        assert all(s >= min(20, p) for s, p in zip(sizes, PIXELS, strict=True))


def test_proportional_is_largest_remainders() -> None:
    # quotas 10 * (5, 3, 2) / 10 = 5, 3, 2; 7 * ... = 3.5, 2.1, 1.4 -> 3, 2, 1 and one more for the 0.5
    assert allocate("proportional", 10, [50, 30, 20]) == [5, 3, 2]
    assert allocate("proportional", 7, [50, 30, 20]) == [4, 2, 1]


def test_equal_shares_and_gives_a_small_stratum_all_it_has() -> None:
    assert allocate("equal", 9, [100, 100, 100]) == [3, 3, 3]
    assert allocate("equal", 10, [100, 100, 100]) == [4, 3, 3]  # ties: the earlier stratum
    assert allocate("equal", 30, [100, 4, 100, 0]) == [13, 4, 13, 0]


def test_min_per_class_raises_rare_classes_and_shares_the_rest_proportionally() -> None:
    # proportional 100 * (628, 1883, 1056, 155) / 3722 = 16.9, 50.6, 28.4, 4.2: Water and Road are raised
    # to 20; Trees and Grass share 60 as 1883 : 1056 -> 38.4, 21.6 -> 38, 22
    assert allocate("min-per-class", 100, [628, 1883, 1056, 155], 20) == [20, 38, 22, 20]
    # a class smaller than M gives all it has (5): Trees and Grass share 75 -> 48.05, 26.95 -> 48, 27
    assert allocate("min-per-class", 100, [628, 1883, 1056, 5], 20) == [20, 48, 27, 5]


def test_apportion_caps_and_redistributes() -> None:
    assert apportion(10, [1.0, 1.0], [2, 100]) == [2, 8]
    assert apportion(0, [1.0, 1.0], [5, 5]) == [0, 0]


def test_more_points_than_pixels_says_how_many_there_are() -> None:
    with pytest.raises(DataError, match="more than the 3734 pixels the map has to draw from"):
        allocate("proportional", 4000, PIXELS)


def test_given_sizes_are_checked_against_the_strata() -> None:
    assert check_given(["a", "b"], [5, 0], [10, 3]) == [5, 0]
    with pytest.raises(DataError, match="--per-class b=4: the class has 3 pixels"):
        check_given(["a", "b"], [5, 4], [10, 3])
    with pytest.raises(CfiptUsageError, match="no point at all"):
        check_given(["a"], [0], [10])
