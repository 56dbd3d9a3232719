"""Area-adjusted accuracy (`evaluate.area_estimates`): the published worked examples and the properties.

Sources of the expected numbers (each test says which figures it takes from where):
- Olofsson, Foody, Stehman, Woodcock (2013), RSE 129, 122-131: example 1 (Tables 2 to 4, eq. 9 to 16)
  and example 2 (Tables 5 and 6). Sample counts and mapped areas as transcribed in the documented
  examples of the R package mapaccuracy (H. Costa, CRAN 0.1.2, man/olofsson.Rd); the printed figures as
  quoted from the paper by the test and paper-comparison notebook of PyMapAccuracy (agcopenhaver) and by
  the Olofsson (2013) table test of teamlucc (`test_accuracy.R`).
- Olofsson, Foody, Herold, Stehman, Woodcock, Wulder (2014), RSE 148, 42-57: the example of Table 8
  (sample counts), Table 9 (error matrix in area proportions) and p. 54 (accuracies and areas with 95 %
  CI); counts and mapped pixels as in mapaccuracy's documented example, printed figures as quoted by
  the tests of accuracyAssessmentTools (boothmanrylan, tests/test_olofsson.py).
- Stehman (2014), IJRS 35(13), 4923-4939: the 40-unit numerical example (Table 2, strata A-D of 40 000,
  30 000, 20 000 and 10 000 pixels); units as in mapaccuracy's documented example, cross-checked against
  the transcription of Table 2 in accuracyAssessmentTools (stehman2014_table2.csv); printed figures of
  pp. 4932-4936 as quoted by accuracyAssessmentTools (tests/test_stehman.py) and PyMapAccuracy.

The papers print rounded figures computed from rounded intermediates, so each figure is checked to the
decimals printed (half a unit of the last printed digit, plus what the papers' own rounding moved).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.area_estimates import OLOFSSON, STEHMAN, estimate_area_accuracy
from cfipt_cli.evaluate.area_result import AreaAccuracy
from cfipt_cli.evaluate.area_sample import AreaClass, SampleUnit, StratifiedSample

# Olofsson et al. (2014) Table 8: rows map class, columns reference class (sample counts)
TABLE_8 = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
TABLE_8_PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]  # mapped pixels (Landsat, 30 m x 30 m)
TABLE_8_NAMES = ["Deforestation", "Forest gain", "Stable forest", "Stable non-forest"]
# Olofsson et al. (2013) example 1, Table 2 (rows map: deforestation, forest, non-forest) and mapped pixels
EXAMPLE_1 = [[97, 0, 3], [3, 279, 18], [2, 1, 97]]
EXAMPLE_1_PIXELS = [22_353, 1_122_543, 610_228]
# Olofsson et al. (2013) example 2, Table 5 (rows map), stratum weights 0.007, 0.295, 0.698
EXAMPLE_2 = [[127, 66, 54], [2, 322, 17], [0, 15, 540]]
EXAMPLE_2_PIXELS = [7_000, 295_000, 698_000]
# Stehman (2014) Table 2: per stratum A-D (10 units each), the map and reference class of every unit
STEHMAN_STRATA = "A" * 10 + "B" * 10 + "C" * 10 + "D" * 10
STEHMAN_MAP = "AAAAAAABBB" + "ABBBBBBBBB" + "BBCCCCCCBB" + "DDDDDDDDDD"
STEHMAN_REFERENCE = "AAAAACBABC" + "ABBBBBAABB" + "CCCCCDDBBA" + "DDDDDDDCCB"
STEHMAN_PIXELS = {"A": 40_000, "B": 30_000, "C": 20_000, "D": 10_000}


def _from_counts(
    counts: list[list[int]], pixels: list[int], names: list[str] | None = None, **kw
) -> StratifiedSample:
    """Strata = map classes (ids 1..k): the units of a count matrix (rows map, columns reference)."""
    names = names or [f"class {i + 1}" for i in range(len(counts))]
    units = [
        SampleUnit(stratum=i + 1, map_class=i + 1, reference=j + 1)
        for i, row in enumerate(counts)
        for j, count in enumerate(row)
        for _ in range(count)
    ]
    classes = tuple(AreaClass(i + 1, name) for i, name in enumerate(names))
    return StratifiedSample(classes, {i + 1: n for i, n in enumerate(pixels)}, tuple(units), **kw)


def _stehman_sample() -> StratifiedSample:
    ids = {name: i + 1 for i, name in enumerate("ABCD")}
    units = tuple(
        SampleUnit(f"stratum {s}", ids[m], ids[r])
        for s, m, r in zip(STEHMAN_STRATA, STEHMAN_MAP, STEHMAN_REFERENCE, strict=True)
    )
    strata = {f"stratum {s}": n for s, n in STEHMAN_PIXELS.items()}
    return StratifiedSample(tuple(AreaClass(i, n) for n, i in ids.items()), strata, units)


def _matrix(result: AreaAccuracy) -> np.ndarray:
    """The estimated error matrix in area proportions (rows map, columns reference)."""
    return np.array([[cell.value for cell in row] for row in result.error_matrix], dtype=float)


def _ci_half(estimate) -> float:
    low, high = estimate.ci95
    return (high - low) / 2


def _assert_printed_accuracies(result: AreaAccuracy, overall, users, producers) -> None:
    """OA, UA and PA with their 95 % CI half-widths, as printed to 2 decimals (None: not checked)."""
    printed = [(result.overall_accuracy, *overall)]
    for c, ua, pa in zip(result.classes, users, producers, strict=True):
        printed += [(c.users_accuracy, *ua), (c.producers_accuracy, *pa)]
    for estimate, value, half_width in printed:
        assert estimate.value == pytest.approx(value, abs=0.005)
        if half_width is not None:
            assert _ci_half(estimate) == pytest.approx(half_width, abs=0.005)


# --- Olofsson et al. (2014), Tables 8 and 9, p. 54 --------------------------------------------------


@pytest.fixture(scope="module")
def table_8() -> AreaAccuracy:
    sample = _from_counts(TABLE_8, TABLE_8_PIXELS, TABLE_8_NAMES, pixel_area_m2=900.0)
    return estimate_area_accuracy(sample, finite_population_correction=False)  # the paper's formulas


def test_olofsson_2014_error_matrix_of_table_9(table_8: AreaAccuracy) -> None:
    # Table 9, printed to 4 decimals (rows map, columns reference)
    table_9 = [
        [0.0176, 0.0000, 0.0013, 0.0011],
        [0.0000, 0.0110, 0.0016, 0.0024],
        [0.0019, 0.0000, 0.2967, 0.0213],
        [0.0040, 0.0020, 0.0179, 0.6212],
    ]
    assert _matrix(table_8) == pytest.approx(np.array(table_9), abs=5e-5)


def test_olofsson_2014_accuracies_with_95_ci(table_8: AreaAccuracy) -> None:
    # p. 54, left: estimate +- 95 % CI half-width, printed to 2 decimals
    users = [(0.88, 0.07), (0.73, 0.10), (0.93, 0.04), (0.96, 0.02)]
    producers = [(0.75, 0.21), (0.85, None), (0.93, 0.03), (0.96, None)]
    assert table_8.method == OLOFSSON
    _assert_printed_accuracies(table_8, (0.95, 0.02), users, producers)
    # The paper prints +-0.23 (forest gain) and +-0.01 (stable non-forest) for the producer's accuracy;
    # its eq. 7 gives 0.254 and 0.018 (as accuracyAssessmentTools and mapaccuracy also find): a rounding
    # slip of the paper, so those two half-widths are checked against eq. 7 itself below.
    assert _ci_half(table_8.classes[1].producers_accuracy) == pytest.approx(0.2544, abs=5e-5)
    assert _ci_half(table_8.classes[3].producers_accuracy) == pytest.approx(0.0184, abs=5e-5)


def test_olofsson_2014_areas_in_ha_and_pixels(table_8: AreaAccuracy) -> None:
    # p. 54, right: area in ha +- 95 % CI, printed to the hectare
    areas_ha = [(21_158, 6_158), (11_686, 3_756), (285_770, 15_510), (581_386, 16_282)]
    for c, (area, ci) in zip(table_8.classes, areas_ha, strict=True):
        assert c.area.hectares.value == pytest.approx(area, abs=0.5)
        assert _ci_half(c.area.hectares) == pytest.approx(ci, abs=0.5)
        assert c.mapped_pixels == TABLE_8_PIXELS[table_8.classes.index(c)]
    # p. 54: deforestation 235 086 +- 68 418 pixels
    deforestation = table_8.classes[0].area.pixels
    assert deforestation.value == pytest.approx(235_086, abs=0.5)
    assert _ci_half(deforestation) == pytest.approx(68_418, abs=0.5)


# --- Olofsson et al. (2013), examples 1 and 2 -----------------------------------------------------


def test_olofsson_2013_example_1() -> None:
    result = estimate_area_accuracy(
        _from_counts(EXAMPLE_1, EXAMPLE_1_PIXELS), finite_population_correction=False
    )
    deforestation = result.classes[0]
    assert deforestation.area.proportion.value == pytest.approx(0.026, abs=5e-4)  # eq. 9
    assert deforestation.area.proportion.se == pytest.approx(0.00613, abs=5e-6)  # eq. 11
    assert deforestation.area.pixels.se == pytest.approx(10_751, abs=0.5)  # eq. 12, pixels
    # eq. 10 prints 45 651 pixels, from the rounded proportion; unrounded it is 0.025703 x 1 755 124
    assert deforestation.area.pixels.value == pytest.approx(0.025703255 * sum(EXAMPLE_1_PIXELS), rel=1e-8)
    # eq. 14 prints 0.969, from rounded cells; unrounded it is 97 / 100
    assert deforestation.users_accuracy.value == pytest.approx(0.97, abs=0.005)
    assert deforestation.producers_accuracy.value == pytest.approx(0.48, abs=0.005)  # eq. 15
    assert result.overall_accuracy.value == pytest.approx(0.944, abs=5e-4)  # eq. 16
    # Table 3/4: the error matrix in area proportions (3 decimals) and the accuracies (2 decimals)
    matrix = [[0.012, 0.000, 0.0004], [0.006, 0.595, 0.038], [0.007, 0.003, 0.337]]
    assert _matrix(result) == pytest.approx(np.array(matrix), abs=5e-4)
    assert [c.area.proportion.value for c in result.classes] == pytest.approx([0.026, 0.598, 0.376], abs=5e-4)
    assert [c.users_accuracy.value for c in result.classes] == pytest.approx([0.97, 0.93, 0.97], abs=0.005)
    assert [c.producers_accuracy.value for c in result.classes[:2]] == pytest.approx([0.48, 0.99], abs=0.005)


def test_olofsson_2013_example_2() -> None:
    result = estimate_area_accuracy(
        _from_counts(EXAMPLE_2, EXAMPLE_2_PIXELS), finite_population_correction=False
    )
    # Table 6: estimate +- 95 % CI half-width, 2 decimals
    users = [(0.51, 0.06), (0.94, 0.02), (0.97, 0.01)]
    producers = [(0.68, 0.30), (0.93, 0.03), (0.98, 0.01)]
    _assert_printed_accuracies(result, (0.96, 0.01), users, producers)


def test_the_finite_population_correction_changes_the_examples_below_their_printed_precision() -> None:
    for counts, pixels in ((TABLE_8, TABLE_8_PIXELS), (EXAMPLE_2, EXAMPLE_2_PIXELS)):
        plain = estimate_area_accuracy(_from_counts(counts, pixels), finite_population_correction=False)
        corrected = estimate_area_accuracy(_from_counts(counts, pixels))
        assert corrected.finite_population_correction and not plain.finite_population_correction
        assert corrected.overall_accuracy.value == plain.overall_accuracy.value
        assert corrected.overall_accuracy.se == pytest.approx(plain.overall_accuracy.se, rel=1e-3)
        assert corrected.overall_accuracy.se < plain.overall_accuracy.se


# --- Stehman (2014), the numerical example -----------------------------------------------------------


def test_stehman_2014_numerical_example() -> None:
    result = estimate_area_accuracy(_stehman_sample())  # Stehman's eq. 25 and 28, with the correction
    a, b, c, _ = result.classes
    assert result.method == STEHMAN and not result.strata_are_map_classes
    assert a.area.proportion.value == pytest.approx(0.35, abs=5e-3)  # p. 4932
    assert c.area.proportion.value == pytest.approx(0.20, abs=5e-3)  # p. 4932
    assert result.overall_accuracy.value == pytest.approx(0.63, abs=5e-3)  # p. 4932
    assert b.users_accuracy.value == pytest.approx(0.574, abs=5e-4)  # p. 4934
    assert b.producers_accuracy.value == pytest.approx(0.794, abs=5e-4)  # p. 4934
    assert result.error_matrix[1][2].value == pytest.approx(0.08, abs=5e-3)  # p. 4935, p_23
    assert a.area.proportion.se == pytest.approx(0.082, abs=5e-4)  # p. 4935
    assert c.area.proportion.se == pytest.approx(0.064, abs=5e-4)  # p. 4935
    assert result.overall_accuracy.se == pytest.approx(0.085, abs=5e-4)  # p. 4936
    assert b.users_accuracy.se == pytest.approx(0.125, abs=5e-4)  # p. 4936
    # p. 4936 prints 0.114: that is eq. 28 with s2_x of stratum D taken as 0, though Table 3 gives it
    # as 0.1 (one unit of class B among 10); with s2_x = 0.1 eq. 28 gives 0.1165 (so do mapaccuracy and
    # accuracyAssessmentTools).
    assert b.producers_accuracy.se == pytest.approx(0.1165, abs=5e-5)


# --- The general path reduces to Olofsson's formulas when the strata are the map classes -----------


def _olofsson_formulas(counts: list[list[int]], pixels: list[int]) -> dict[str, np.ndarray]:
    """Olofsson et al. (2014) eq. 4-11 (no finite population correction), written out on their own."""
    n = np.asarray(counts, dtype=float)
    mapped = np.asarray(pixels, dtype=float)
    w = mapped / mapped.sum()
    n_i = n.sum(axis=1)
    p = w[:, None] * n / n_i[:, None]  # eq. 4 / 9
    users = np.diag(n) / n_i
    share = n / n_i[:, None]
    area = p.sum(axis=0)
    producers = np.diag(p) / area
    reference_pixels = (mapped[:, None] * share).sum(axis=0)
    others = (mapped[:, None] ** 2 * share * (1 - share) / (n_i[:, None] - 1)).sum(axis=0)
    others -= mapped**2 * users * (1 - users) / (n_i - 1)
    pa_var = (mapped**2 * (1 - producers) ** 2 * users * (1 - users) / (n_i - 1) + producers**2 * others) / (
        reference_pixels**2
    )
    return {
        "matrix": p,
        "overall": np.array([np.trace(p), np.sqrt(np.sum(w**2 * users * (1 - users) / (n_i - 1)))]),
        "users": np.stack([users, np.sqrt(users * (1 - users) / (n_i - 1))]),
        "producers": np.stack([producers, np.sqrt(pa_var)]),
        "area": np.stack(
            [area, np.sqrt((w[:, None] ** 2 * share * (1 - share) / (n_i[:, None] - 1)).sum(axis=0))]
        ),
    }


@pytest.mark.parametrize(
    ("counts", "pixels"),
    [(TABLE_8, TABLE_8_PIXELS), (EXAMPLE_1, EXAMPLE_1_PIXELS), (EXAMPLE_2, EXAMPLE_2_PIXELS)],
)
def test_stehman_with_strata_equal_to_the_map_classes_is_olofsson(counts, pixels) -> None:
    expected = _olofsson_formulas(counts, pixels)
    result = estimate_area_accuracy(_from_counts(counts, pixels), finite_population_correction=False)

    def pairs(attribute: str) -> np.ndarray:
        figures = [getattr(c, attribute) for c in result.classes]
        return np.array([[f.value for f in figures], [f.se for f in figures]])

    assert _matrix(result) == pytest.approx(expected["matrix"])
    assert [result.overall_accuracy.value, result.overall_accuracy.se] == pytest.approx(
        expected["overall"].tolist()
    )
    assert pairs("users_accuracy") == pytest.approx(expected["users"])
    assert pairs("producers_accuracy") == pytest.approx(expected["producers"])
    areas = [
        [c.area.proportion.value for c in result.classes],
        [c.area.proportion.se for c in result.classes],
    ]
    assert np.array(areas) == pytest.approx(expected["area"])


def test_strata_named_otherwise_but_equal_to_the_map_classes_give_the_same_figures() -> None:
    sample = _from_counts(TABLE_8, TABLE_8_PIXELS)
    renamed = StratifiedSample(
        sample.classes,
        {f"zone {key}": n for key, n in sample.strata.items()},
        tuple(SampleUnit(f"zone {u.stratum}", u.map_class, u.reference) for u in sample.units),
    )
    general, special = estimate_area_accuracy(renamed), estimate_area_accuracy(sample)
    assert general.method == STEHMAN and special.method == OLOFSSON
    assert general.classes[0].mapped_pixels is None and special.classes[0].mapped_pixels == 200_000
    for mine, theirs in zip(general.classes, special.classes, strict=True):
        for attribute in ("users_accuracy", "producers_accuracy"):
            assert getattr(mine, attribute).to_json() == getattr(theirs, attribute).to_json()
        assert mine.area.to_json() == theirs.area.to_json()
    assert general.to_json()["error_matrix"] == special.to_json()["error_matrix"]
    assert general.overall_accuracy == special.overall_accuracy


# --- Properties -----------------------------------------------------------------------------------


def _numbers(tree) -> list[float]:
    """Every number of a JSON tree in a fixed order; None as a marker that cannot be an estimate."""
    if isinstance(tree, dict):
        return [x for key in sorted(tree) for x in _numbers(tree[key])]
    if isinstance(tree, list):
        return [x for item in tree for x in _numbers(item)]
    if tree is None:
        return [-1e300]
    return [float(tree)] if isinstance(tree, (int, float)) else []


@pytest.mark.parametrize(
    "sample", [_from_counts(TABLE_8, TABLE_8_PIXELS, pixel_area_m2=900.0), _stehman_sample()]
)
def test_areas_add_up_to_the_whole_map(sample: StratifiedSample) -> None:
    result = estimate_area_accuracy(sample)
    total = sum(sample.strata.values())
    assert result.population_pixels == total and result.excluded_pixels == 0
    assert sum(c.area.proportion.value for c in result.classes) == pytest.approx(1.0)
    assert sum(c.area.pixels.value for c in result.classes) == pytest.approx(total)
    if sample.pixel_area_m2 is not None:
        assert sum(c.area.square_metres.value for c in result.classes) == pytest.approx(total * 900.0)
        assert sum(c.area.hectares.value for c in result.classes) == pytest.approx(total * 0.09)
    columns = _matrix(result).sum(axis=0)
    assert columns.tolist() == pytest.approx([c.area.proportion.value for c in result.classes])


def test_rows_of_the_error_matrix_are_the_stratum_weights_when_the_strata_are_the_map_classes() -> None:
    result = estimate_area_accuracy(_from_counts(TABLE_8, TABLE_8_PIXELS))
    rows = _matrix(result).sum(axis=1)
    assert rows.tolist() == pytest.approx((np.array(TABLE_8_PIXELS) / sum(TABLE_8_PIXELS)).tolist())


def test_a_census_gives_the_counts_with_no_standard_error() -> None:
    # every pixel sampled: stratum h has exactly as many pixels as units
    counts = [[5, 1, 0], [2, 7, 1], [0, 3, 4]]
    result = estimate_area_accuracy(_from_counts(counts, [sum(row) for row in counts], pixel_area_m2=100.0))
    n = np.array(counts, dtype=float)
    assert result.overall_accuracy.value == pytest.approx(np.trace(n) / n.sum())
    for i, c in enumerate(result.classes):
        assert c.area.pixels.value == pytest.approx(n[:, i].sum())
        assert c.area.square_metres.value == pytest.approx(n[:, i].sum() * 100.0)
        assert c.users_accuracy.value == pytest.approx(n[i, i] / n[i].sum())
        assert c.producers_accuracy.value == pytest.approx(n[i, i] / n[:, i].sum())
        for estimate in (c.users_accuracy, c.producers_accuracy, c.area.proportion, c.area.pixels):
            assert estimate.se == 0.0
            assert estimate.ci95 == (estimate.value, estimate.value)
    assert result.overall_accuracy.se == 0.0
    assert all(cell.se == 0.0 for row in result.error_matrix for cell in row)
    assert [list(row) for row in result.sample_counts] == counts


def test_the_order_of_the_sample_units_does_not_matter() -> None:
    sample = _stehman_sample()
    units = list(sample.units)
    random.Random(14).shuffle(units)
    shuffled = StratifiedSample(sample.classes, dict(reversed(list(sample.strata.items()))), tuple(units))
    assert _numbers(estimate_area_accuracy(shuffled).to_json()) == pytest.approx(
        _numbers(estimate_area_accuracy(sample).to_json())
    )


def test_confidence_intervals_are_the_estimate_plus_minus_1_96_se() -> None:
    result = estimate_area_accuracy(_stehman_sample())
    figure = result.classes[1].users_accuracy
    assert figure.ci95 == pytest.approx((figure.value - 1.96 * figure.se, figure.value + 1.96 * figure.se))
    assert result.to_json()["overall_accuracy"]["ci95"] == pytest.approx(list(result.overall_accuracy.ci95))


# --- Edge cases -----------------------------------------------------------------------------------


def _json_of(result: AreaAccuracy) -> dict:
    """The JSON form, checked to be valid JSON (no NaN or infinity anywhere)."""
    text = json.dumps(result.to_json(), allow_nan=False)
    return json.loads(text)


def test_a_class_absent_from_the_sample_has_no_accuracy_and_zero_area() -> None:
    counts = [[20, 2, 0], [3, 30, 0], [0, 0, 0]]
    result = estimate_area_accuracy(_from_counts(counts, [1000, 2000, 500]))
    absent = result.classes[2]
    assert absent.users_accuracy.value is None and absent.users_accuracy.ci95 is None
    assert absent.producers_accuracy.value is None
    assert any("absent from the sample" in note for note in result.notes)
    assert any("stratum 3 has 500 pixels but no sample unit" in note for note in result.notes)
    assert result.excluded_pixels == 500 and result.population_pixels == 3000
    assert absent.area.proportion.value == 0.0 and absent.area.proportion.se == 0.0
    report = _json_of(result)["classes"][2]
    assert report["users_accuracy"] == {"estimate": None, "se": None, "ci95": None}


def test_a_class_mapped_but_never_observed_or_observed_but_never_mapped() -> None:
    counts = [[10, 0, 2], [0, 0, 3], [1, 0, 9]]  # class 2: mapped, never the reference
    result = estimate_area_accuracy(_from_counts(counts, [100, 50, 300]))
    assert result.classes[1].users_accuracy.value == 0.0
    assert result.classes[1].producers_accuracy.value is None
    assert any("reference of no sample unit" in note for note in result.notes)
    classes = (AreaClass(1, "a"), AreaClass(2, "b"))
    units = (SampleUnit("s", 1, 1), SampleUnit("s", 1, 2), SampleUnit("s", 1, 2))
    other = estimate_area_accuracy(StratifiedSample(classes, {"s": 90}, units))  # b: never mapped
    assert other.classes[1].users_accuracy.value is None
    assert other.classes[1].producers_accuracy.value == 0.0
    assert any("mapped in no sample unit" in note for note in other.notes)
    _json_of(other)


def test_a_stratum_with_one_unit_leaves_every_standard_error_undefined() -> None:
    counts = [[20, 2], [0, 1]]
    result = estimate_area_accuracy(_from_counts(counts, [1000, 400]))
    assert result.overall_accuracy.value is not None and result.overall_accuracy.se is None
    assert all(c.area.proportion.se is None and c.users_accuracy.ci95 is None for c in result.classes)
    assert result.classes[0].area.proportion.value == pytest.approx(1000 * 20 / 22 / 1400)
    assert any("one sample unit" in note for note in result.notes)
    _json_of(result)
    single_pixel = estimate_area_accuracy(_from_counts(counts, [1000, 1]))  # a census of its one pixel
    assert single_pixel.overall_accuracy.se is not None
    assert not any("one sample unit" in note for note in single_pixel.notes)


def test_empty_strata_are_ignored_with_a_note() -> None:
    classes = (AreaClass(1, "a"), AreaClass(2, "b"))
    units = tuple([SampleUnit("x", 1, 1)] * 4 + [SampleUnit("x", 1, 2)] * 2 + [SampleUnit("ghost", 2, 2)] * 3)
    result = estimate_area_accuracy(StratifiedSample(classes, {"x": 600, "ghost": 0, "none": 0}, units))
    assert result.sample_size == 6 and result.population_pixels == 600
    assert result.classes[1].area.pixels.value == pytest.approx(200.0)
    assert any("'ghost' has no pixels" in note and "3 sample units" in note for note in result.notes)
    assert any("'none' has no pixels" in note for note in result.notes)


def test_no_usable_unit_gives_only_undefined_figures() -> None:
    classes = (AreaClass(1, "a"), AreaClass(2, "b"))
    result = estimate_area_accuracy(StratifiedSample(classes, {1: 100, 2: 50}, ()))
    assert result.overall_accuracy.value is None and result.sample_size == 0
    assert all(c.area.pixels.value is None for c in result.classes)
    assert any("no usable sample unit" in note for note in result.notes)
    assert _json_of(result)["error_matrix"]["proportions"][0][0]["estimate"] is None


@pytest.mark.parametrize(
    ("strata", "units", "message"),
    [
        ({1: 10}, (SampleUnit(3, 1, 1),), "stratum 3 is not in the design"),
        ({1: 10}, (SampleUnit(1, 1, 9),), "reference class 9 is not in the class list"),
        ({1: 1}, (SampleUnit(1, 1, 1), SampleUnit(1, 1, 2)), "2 sample units drawn from 1 pixels"),
        ({1: -5}, (), "integer >= 0"),
        ({}, (), "no strata"),
    ],
)
def test_an_invalid_sample_is_refused(strata, units, message) -> None:
    with pytest.raises(DataError, match=message):
        StratifiedSample((AreaClass(1, "a"), AreaClass(2, "b")), strata, units)


def test_invalid_classes_and_pixel_areas_are_refused() -> None:
    with pytest.raises(DataError, match="class ids must be unique"):
        StratifiedSample((AreaClass(1, "a"), AreaClass(1, "b")), {1: 10}, ())
    with pytest.raises(DataError, match="pixel area"):
        StratifiedSample((AreaClass(1, "a"),), {1: 10}, (), pixel_area_m2=float("nan"))
    with pytest.raises(DataError, match="not in the class list"):
        StratifiedSample((AreaClass(1, "a"),), {1: 10}, (), mapped_pixels={7: 3})


def test_the_json_report_holds_plain_values() -> None:
    sample = _from_counts(TABLE_8, TABLE_8_PIXELS, TABLE_8_NAMES, pixel_area_m2=900.0)
    report = _json_of(estimate_area_accuracy(sample))
    assert report["method"] == OLOFSSON and report["confidence_z"] == 1.96
    assert report["error_matrix"]["rows"] == "map class"
    assert report["error_matrix"]["sample_counts"] == TABLE_8
    deforestation = report["classes"][0]
    assert deforestation["mapped_area"] == {"pixels": 200_000, "m2": 1.8e8, "ha": pytest.approx(18_000.0)}
    assert deforestation["area"]["ha"]["estimate"] == pytest.approx(21_157.76, abs=0.01)
    assert set(deforestation) == {
        "id", "name", "users_accuracy", "producers_accuracy", "area", "mapped_area", "units_mapped",
        "units_reference",
    }  # fmt: skip
