"""The choice of suggestions: spacing, every class its share, most uncertain first, bounded pool."""

from __future__ import annotations

import numpy as np
import pytest

from cfipt_cli.suggest.candidates import CandidatePool, Candidates, cell_side
from cfipt_cli.suggest.selection import class_shares, select


def _pool_of(cls, unc, size=(60, 70), cell=1, keep=10_000, seed=0, block=None):
    """A pool fed with every pixel of a (h, w) scene of classes `cls` and uncertainties `unc`,
    block by block (square blocks of `block`, default the whole scene)."""
    h, w = size
    pool = CandidatePool(cell, keep, seed)
    step = block or max(h, w)
    for r0 in range(0, h, step):
        for c0 in range(0, w, step):
            rows, cols = np.mgrid[r0 : min(h, r0 + step), c0 : min(w, c0 + step)]
            rows, cols = rows.ravel(), cols.ravel()
            pool.add(cls[rows, cols], rows, cols, unc[rows, cols], 1 - unc[rows, cols])
    return pool


@pytest.fixture
def scene():
    rng = np.random.default_rng(1)
    h, w = 60, 70
    cls = np.where(np.arange(w)[None, :] < 50, 1, 2).repeat(h, axis=0)  # class 2: a strip of 20 columns
    cls[:25, :25] = 3  # class 3: a corner
    unc = rng.random((h, w))
    unc[cls == 3] *= 0.1  # a class the model is sure of still gets its share
    return cls, unc


def _chebyshev_ok(c: Candidates, index: np.ndarray, d: int) -> bool:
    rows, cols = c.row[index], c.col[index]
    gaps = np.maximum(np.abs(rows[:, None] - rows[None]), np.abs(cols[:, None] - cols[None]))
    return bool((gaps[~np.eye(len(rows), dtype=bool)] >= d).all())


def test_spread_shares_and_order(scene):
    cls, unc = scene
    d, n = 5, 30
    pool = _pool_of(cls, unc, cell=d)
    chosen = select(pool.kept, n, d)
    c = pool.kept
    assert len(chosen) == n and _chebyshev_ok(c, chosen, d)
    counts = {k: int((c.cls[chosen] == k).sum()) for k in (1, 2, 3)}
    assert counts == {1: 10, 2: 10, 3: 10}
    assert (np.diff(c.uncertainty[chosen]) <= 0).all()  # rank 1 is the most uncertain
    assert c.uncertainty[chosen[0]] == unc.max()  # the most uncertain pixel of the scene comes first


def test_within_a_share_the_most_uncertain_are_taken_when_spacing_allows(scene):
    cls, unc = scene
    pool = _pool_of(cls, unc, cell=1)
    chosen = select(pool.kept, 9, 1)  # d = 1: no spacing constraint
    for k in (1, 2, 3):
        picked = np.sort(pool.kept.uncertainty[chosen][pool.kept.cls[chosen] == k])
        np.testing.assert_array_equal(picked, np.sort(unc[cls == k])[-3:])


def test_a_share_a_class_cannot_fill_goes_to_the_others(scene):
    cls, unc = scene
    cls = cls.copy()
    cls[cls == 3] = 1
    cls[:10, :10] = 3  # a 10 x 10 corner holds at most 2 x 2 points 5 px apart
    d = 5
    pool = _pool_of(cls, unc, cell=d)
    chosen = select(pool.kept, 30, d)
    assert 1 <= (pool.kept.cls[chosen] == 3).sum() <= 4
    assert len(chosen) == 30 and _chebyshev_ok(pool.kept, chosen, d)


def test_shares_give_the_remainder_to_the_most_uncertain_classes():
    c = Candidates(
        np.array([1, 2, 3]),
        np.zeros(3, np.int64),
        np.arange(3),
        np.array([0.2, 0.9, 0.5]),
        np.ones(3),
        np.zeros(3),
    )
    assert class_shares(c, 5) == {2: 2, 3: 2, 1: 1}


@pytest.mark.parametrize("block", [7, 13, 64])
def test_the_pool_does_not_depend_on_the_blocks(scene, block):
    cls, unc = scene
    whole, cut = _pool_of(cls, unc, cell=5), _pool_of(cls, unc, cell=5, block=block)
    key = lambda c: sorted(zip(c.cls.tolist(), c.row.tolist(), c.col.tolist(), strict=True))  # noqa: E731
    assert key(whole.kept) == key(cut.kept)


def test_the_pool_is_bounded_one_per_class_and_cell(scene):
    cls, unc = scene
    d, keep = 5, 40
    pool = _pool_of(cls, unc, cell=d, keep=keep, block=16)
    c = pool.kept
    for k in (1, 2, 3):
        assert (c.cls == k).sum() <= keep
    cells = set(zip(c.cls.tolist(), (c.row // d).tolist(), (c.col // d).tolist(), strict=True))
    assert len(cells) == len(c)
    # the best of each cell: its uncertainty is the maximum of that class in the cell
    for i in range(len(c)):
        r, q = c.row[i] // d, c.col[i] // d
        block = unc[r * d : (r + 1) * d, q * d : (q + 1) * d][
            cls[r * d : (r + 1) * d, q * d : (q + 1) * d] == c.cls[i]
        ]
        assert c.uncertainty[i] == block.max()


def test_ties_are_broken_by_the_seed():
    h, w = 20, 20
    cls, unc = np.ones((h, w), np.int64), np.full((h, w), 0.5)
    picks = [
        tuple(
            _pool_of(cls, unc, (h, w), seed=s)
            .kept.take(select(_pool_of(cls, unc, (h, w), seed=s).kept, 5, 3))
            .row
        )
        for s in (0, 0, 1)
    ]
    assert picks[0] == picks[1] and picks[0] != picks[2]


def test_a_small_class_is_not_lost_when_a_neighbour_blocks_its_best_pixel():
    """Class A lies in one corner: its best pixel is next to B's, its second best 5 px from B's; with
    cells as wide as the distance only A's best would be kept, and A would get no suggestion."""
    d = 5
    cls = np.array([2, 1, 1])  # B, A, A
    rows, cols = np.array([4, 4, 0]), np.array([4, 5, 9])
    unc = np.array([0.9, 0.8, 0.5])
    pool = CandidatePool(cell_side(d), keep=100, seed=0)
    pool.add(cls, rows, cols, unc, 1 - unc)
    chosen = pool.kept.take(select(pool.kept, 2, d))
    assert sorted(zip(chosen.cls.tolist(), chosen.row.tolist(), chosen.col.tolist(), strict=True)) == [
        (1, 0, 9),
        (2, 4, 4),
    ]


def test_ties_do_not_depend_on_the_blocks():
    h, w = 30, 30
    cls, unc = np.ones((h, w), np.int64), np.full((h, w), 0.5)  # every pixel equally uncertain
    picks = []
    for block in (7, 30):
        pool = _pool_of(cls, unc, (h, w), cell=2, seed=3, block=block)
        chosen = pool.kept.take(select(pool.kept, 6, 4))
        picks.append(sorted(zip(chosen.row.tolist(), chosen.col.tolist(), strict=True)))
    assert picks[0] == picks[1]
