"""The majority vote (`cfipt_cli.regularize.majority`) against a slow plain loop, and its rules:
the votes come from ITK's ball footprint (the corners of the square do not vote from R = 2), the
most frequent label wins, a tie keeps the centre, nodata never wins and stays."""

from __future__ import annotations

import numpy as np
import pytest
from regularize_builders import ball, slow_majority

from cfipt_cli.regularize.majority import ball_half_widths, majority_vote


def whole(ids: np.ndarray, radius: int) -> np.ndarray:
    return majority_vote(np.pad(ids, radius, constant_values=0), radius, 0)


def test_an_isolated_pixel_in_a_uniform_region_is_removed() -> None:
    ids = np.full((7, 7), 3, np.uint8)
    ids[3, 3] = 5
    assert (whole(ids, 1) == 3).all()


def test_a_tie_keeps_the_centre_label() -> None:
    # 3 x 3 window of the centre: four 1s, four 2s and the centre 3 -> 1 and 2 tie, 3 stays.
    ids = np.array([[1, 2, 1], [2, 3, 2], [1, 2, 1]], np.uint8)
    assert whole(ids, 1)[1, 1] == 3
    ids[0, 1] = 1  # now 1 has five: it wins
    assert whole(ids, 1)[1, 1] == 1


def test_nodata_never_wins_never_spreads_and_stays() -> None:
    ids = np.zeros((5, 5), np.uint8)
    ids[2, 2] = 4  # one class pixel among nodata: nodata is no label, 4 is the only vote
    ids[0, 0] = 0
    voted = whole(ids, 1)
    assert voted[2, 2] == 4 and (voted[ids == 0] == 0).all()
    ids = np.full((5, 5), 2, np.uint8)
    ids[1:4, 1:4] = 0
    ids[2, 2] = 0
    voted = whole(ids, 2)
    assert (voted[ids == 0] == 0).all() and (voted[ids != 0] == 2).all()  # nodata stays, does not grow


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_the_vote_equals_the_slow_loop_on_a_noisy_map(radius: int) -> None:
    rng = np.random.default_rng(radius)
    ids = rng.choice([0, 1, 2, 3, 7], size=(23, 31), p=[0.1, 0.4, 0.3, 0.15, 0.05]).astype(np.uint16)
    np.testing.assert_array_equal(whole(ids, radius), slow_majority(ids, radius))


R2_FOOTPRINT = """
. # # # .
# # # # #
# # o # #
# # # # #
. # # # .
"""  # the picture of README.md ("Cleaning a map"): `o` is the pixel itself, which votes


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 7])
def test_the_footprint_is_itks_ball(radius: int) -> None:
    rows = [[abs(dx) <= w for dx in range(-radius, radius + 1)] for w in ball_half_widths(radius)]
    np.testing.assert_array_equal(np.array(rows), ball(radius))
    picture = np.array([[c in "#o" for c in line.split()] for line in R2_FOOTPRINT.strip().splitlines()])
    np.testing.assert_array_equal(picture, ball(2))
    assert ball(1).all() and ball(2).sum() == 21 and ball(3).sum() == 37


def test_the_corners_of_the_square_do_not_vote_from_radius_2() -> None:
    # The centre's only class neighbours within R = 2 are the four corners of the 5 x 5 square: in a
    # square window they would outvote it 4 to 1; in OTB's ball they are outside, so it stays.
    ids = np.zeros((5, 5), np.uint8)
    ids[2, 2] = 1
    ids[0, 0] = ids[0, 4] = ids[4, 0] = ids[4, 4] = 2
    assert whole(ids, 2)[2, 2] == 1
    ids[0, 1] = ids[1, 0] = 2  # inside the ball: two votes of 2 against one of 1
    assert whole(ids, 2)[2, 2] == 2
