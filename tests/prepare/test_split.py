"""The training / test split: N per class, seeded, disjoint, small classes, spatially disjoint blocks."""

from __future__ import annotations

import numpy as np
import pytest

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.prepare.split import SplitParams, n_train_for, split_pixels

WIDTH = 60


def _labelled(seed=0, height=50, n_classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes + 1, size=(height, WIDTH))
    index = np.flatnonzero(labels)
    return index, labels.ravel()[index].astype(np.uint16)


def test_random_split_takes_n_per_class_and_tests_on_the_rest():
    index, classes = _labelled()
    result = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=40, seed=1))
    assert np.bincount(result.train_class).tolist()[1:] == [40, 40, 40]
    assert not np.intersect1d(result.train_index, result.test_index).size
    assert result.train_index.size + result.test_index.size == index.size
    counts = result.counts([1, 2, 3])
    assert counts["train"] == {"1": 40, "2": 40, "3": 40}
    assert sum(counts["test"].values()) == index.size - 120


def test_split_is_seeded_and_independent_of_pixel_order():
    index, classes = _labelled()
    a = split_pixels(index, classes, WIDTH, SplitParams(seed=5))
    order = np.random.default_rng(9).permutation(index.size)
    b = split_pixels(index[order], classes[order], WIDTH, SplitParams(seed=5))
    c = split_pixels(index, classes, WIDTH, SplitParams(seed=6))
    np.testing.assert_array_equal(a.train_index, b.train_index)
    assert not np.array_equal(a.train_index, c.train_index)


@pytest.mark.parametrize(
    ("n", "independent", "expected"),
    [(100, False, 40), (40, False, 20), (7, False, 3), (1, False, 1), (7, True, 7), (40, True, 40)],
)
def test_small_class_rule(n, independent, expected):
    assert n_train_for(n, 40, independent) == expected


def test_small_class_is_split_in_half_with_a_warning(caplog):
    index = np.arange(100, dtype=np.int64)
    classes = np.array([1] * 90 + [2] * 10, dtype=np.uint16)
    result = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=40))
    assert (result.train_class == 2).sum() == 5 and (result.test_class == 2).sum() == 5
    assert result.small_classes == {2: (10, 5)}
    assert any("class 2 has only 10" in r.getMessage() for r in caplog.records)


def test_independent_test_set_never_contains_training_pixels():
    index, classes = _labelled()
    result = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=10), index[::2], classes[::2])
    assert not np.intersect1d(result.train_index, result.test_index).size
    assert result.test_index.size == index[::2].size - np.intersect1d(index[::2], result.train_index).size


def test_independent_test_set_all_of_which_trains_is_an_error():
    """`--labels X --test-labels Y --train-per-class all` with Y inside X: no test pixel would be left."""
    index, classes = _labelled()
    params = SplitParams(train_per_class="all")
    with pytest.raises(
        DataError, match=r"every pixel of --test-labels .* is also a training pixel.*train_labels.tif"
    ):
        split_pixels(index, classes, WIDTH, params, index[::3], classes[::3])


def test_independent_test_set_partly_training_loses_those_pixels_with_a_warning(caplog):
    index, classes = _labelled()
    half = index.size // 2
    test_index = index[half - 10 :]  # 10 of them are training pixels
    result = split_pixels(
        index[:half],
        classes[:half],
        WIDTH,
        SplitParams(train_per_class="all"),
        test_index,
        classes[half - 10 :],
    )
    assert result.test_index.size == test_index.size - 10
    assert any("10 test pixels are also training pixels" in r.getMessage() for r in caplog.records)


def test_small_class_with_independent_test_set_trains_on_all_its_pixels(caplog):
    index = np.arange(100, dtype=np.int64)
    classes = np.array([1] * 90 + [2] * 10, dtype=np.uint16)
    test_index, test_classes = np.arange(100, 120, dtype=np.int64), np.array([1, 2] * 10, dtype=np.uint16)
    result = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=40), test_index, test_classes)
    assert (result.train_class == 2).sum() == 10 and (result.test_class == 2).sum() == 10
    assert result.small_classes == {2: (10, 10)}
    messages = [r.getMessage() for r in caplog.records]
    assert any("class 2 has only 10" in m and "all 10 train" in m and "--test-labels" in m for m in messages)
    assert not any("0 test" in m for m in messages)


def test_class_of_exactly_n_pixels_with_independent_test_set_is_no_small_class(caplog):
    index = np.arange(100, dtype=np.int64)
    classes = np.array([1] * 60 + [2] * 40, dtype=np.uint16)
    test_index, test_classes = np.arange(100, 120, dtype=np.int64), np.array([1, 2] * 10, dtype=np.uint16)
    result = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=40), test_index, test_classes)
    assert (result.train_class == 2).sum() == 40
    assert result.small_classes == {}
    assert not any("has only" in r.getMessage() for r in caplog.records)
    without = split_pixels(index, classes, WIDTH, SplitParams(train_per_class=40))  # no test set: halved
    assert without.small_classes == {2: (40, 20)}


@pytest.mark.parametrize("patch", [3, 5, 11])
def test_blocks_split_keeps_test_patches_off_training_patches(patch):
    index, classes = _labelled(height=80)
    result = split_pixels(index, classes, WIDTH, SplitParams("blocks", 20, 0, patch, 16))
    train = np.column_stack(np.divmod(result.train_index, WIDTH))
    test = np.column_stack(np.divmod(result.test_index, WIDTH))
    chebyshev = np.abs(test[:, None, :] - train[None, :, :]).max(axis=2)
    assert chebyshev.min() >= patch  # p x p patches around them cannot overlap
    assert result.excluded > 0 and result.test_index.size > 0
    assert result.excluded + result.test_index.size + result.train_index.size == index.size
    assert np.bincount(result.train_class).tolist()[1:] == [20, 20, 20]


def test_blocks_split_clusters_training_pixels():
    index, classes = _labelled(height=80)
    rand = split_pixels(index, classes, WIDTH, SplitParams("random", 20, 0, 5, 16))
    blocks = split_pixels(index, classes, WIDTH, SplitParams("blocks", 20, 0, 5, 16))

    def n_blocks(idx):
        rows, cols = np.divmod(idx, WIDTH)
        return np.unique((rows // 16) * 100 + cols // 16).size

    assert n_blocks(blocks.train_index) < n_blocks(rand.train_index)
    assert blocks.test_index.size > 0


@pytest.mark.parametrize(
    "values",
    [
        {"mode": "x"},
        {"train_per_class": 0},
        {"patch_size": 0},
        {"block_size": 0},
    ],
)
def test_bad_parameters_are_usage_errors(values):
    with pytest.raises(CfiptUsageError):
        SplitParams(**values)  # checked when built, so no split ever runs on bad parameters
