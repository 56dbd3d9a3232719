"""The majority vote (`cfipt_cli.regularize.majority`) against a slow plain loop, and its rules:
the most frequent label wins, a tie keeps the centre, nodata never wins and stays."""

from __future__ import annotations

import numpy as np
import pytest
from regularize_builders import slow_majority

from cfipt_cli.regularize.majority import majority_vote


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
