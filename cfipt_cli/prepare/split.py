"""Training / test split of labelled pixels.

Pixels are flat row-major indices (row * width + col) of the scene grid with a class id each, sorted by
index so that the split depends only on the labels, the seed and the parameters.

Modes:
- "random" (the paper's few-shot protocol): N pixels per class are drawn at random for training; every
  other labelled pixel is a test pixel. Training and test patches may overlap.
- "blocks" (spatially disjoint): the scene is cut into square blocks of `block_size` pixels, visited in a
  random order; the training pixels of a class are its first N pixels in that order (random order inside a
  block), so they cluster in a few blocks. A labelled pixel is then a test pixel only when its p x p patch
  overlaps no training patch, i.e. its Chebyshev distance to every training pixel is at least p (the
  patch size); the others are left out of both sets and counted as `excluded`.

Small classes: a class with N or fewer labelled pixels would leave nothing to test, so half of its pixels
(rounded down, at least one) train and the rest test, with a warning. With an independent test set
(`--test-labels`) all of them train instead: a class of exactly N pixels is then no exception (no
warning), one of fewer is warned about as training on all its pixels. Test pixels are never training
pixels: an independent test set of which every pixel trains is a DataError (the scene could not be
evaluated), one of which only some do loses those with a warning.

`train_per_class` "all" (`ALL`): every labelled pixel of the training labels trains; the test pixels
are then those of the independent test set only (none without one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cfipt_cli.errors import CfiptUsageError, DataError
from cfipt_cli.log import get_logger

log = get_logger(__name__)

SPLIT_MODES = ("random", "blocks")
ALL = "all"  # train_per_class: every labelled pixel trains


def parse_train_per_class(text: str | int) -> int | str:
    """`--train-per-class` as given: a positive integer, or "all"."""
    if isinstance(text, int) or str(text).strip().lower() != ALL:
        try:
            return int(text)
        except ValueError:
            raise CfiptUsageError(f"--train-per-class {text!r}: give a number of pixels or 'all'") from None
    return ALL


@dataclass(frozen=True)
class SplitParams:
    """How to split: mode, N per class, seed, patch size (blocks halo) and block size.

    Checked when built (CfiptUsageError on values out of range), so that every SplitParams is valid.
    """

    mode: str = "random"
    train_per_class: int | str = 40  # or ALL
    seed: int = 0
    patch_size: int = 11
    block_size: int = 64

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise CfiptUsageError on values out of range."""
        if self.mode not in SPLIT_MODES:
            raise CfiptUsageError(f"unknown split mode {self.mode!r}; use one of: {', '.join(SPLIT_MODES)}")
        per_class = self.train_per_class
        if per_class != ALL and (
            not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1
        ):
            raise CfiptUsageError("--train-per-class must be at least 1 (or 'all')")
        if self.patch_size < 1:
            raise CfiptUsageError("--patch-size must be at least 1")
        if self.block_size < 1:
            raise CfiptUsageError("--block-size must be at least 1")


@dataclass
class SplitResult:
    """Flat indices and class ids of the training and test pixels, each sorted by index."""

    train_index: np.ndarray
    train_class: np.ndarray
    test_index: np.ndarray
    test_class: np.ndarray
    excluded: int = 0
    small_classes: dict[int, tuple[int, int]] = field(
        default_factory=dict
    )  # id -> (labelled, used for training)

    def counts(self, class_ids: list[int]) -> dict[str, dict[str, int]]:
        """{"train": {"id": n}, "test": {"id": n}} with every class id present (0 when absent)."""
        return {
            "train": {str(c): int(np.sum(self.train_class == c)) for c in class_ids},
            "test": {str(c): int(np.sum(self.test_class == c)) for c in class_ids},
        }


def n_train_for(n_labelled: int, per_class: int, independent_test: bool) -> int:
    """How many of a class's labelled pixels train (the small-class rule of the module docstring)."""
    if n_labelled > per_class:
        return per_class
    if independent_test:
        return n_labelled
    return max(1, n_labelled // 2)


def _visit_order(index: np.ndarray, width: int, params: SplitParams, rng: np.random.Generator) -> np.ndarray:
    """A random order of the pixels: fully random, or blocks in random order then random inside blocks."""
    jitter = rng.random(index.size)
    if params.mode == "random":
        return np.argsort(jitter, kind="stable")
    rows, cols = np.divmod(index, width)
    block_cols = -(-width // params.block_size)
    block = (rows // params.block_size) * block_cols + cols // params.block_size
    blocks = np.unique(block)
    rank = np.empty(int(blocks.max()) + 1, dtype=np.int64)
    rank[blocks] = rng.permutation(blocks.size)
    return np.lexsort((jitter, rank[block]))


def _choose_training(
    index: np.ndarray, classes: np.ndarray, width: int, params: SplitParams, independent_test: bool
) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    """Boolean 'is training' per labelled pixel, and the small classes met."""
    rng = np.random.default_rng(params.seed)
    order = _visit_order(index, width, params, rng)
    chosen = np.zeros(index.size, dtype=bool)
    small: dict[int, tuple[int, int]] = {}
    if params.train_per_class == ALL:
        return np.ones(index.size, dtype=bool), {}
    per_class = int(params.train_per_class)
    ordered_classes = classes[order]
    for class_id in np.unique(classes).tolist():
        members = order[ordered_classes == class_id]
        k = n_train_for(members.size, per_class, independent_test)
        if members.size < per_class or (members.size == per_class and not independent_test):
            small[int(class_id)] = (int(members.size), k)
        chosen[members[:k]] = True
    return chosen, small


def _far_from(train_index: np.ndarray, candidates: np.ndarray, width: int, patch_size: int) -> np.ndarray:
    """True for candidates whose Chebyshev distance to every training pixel is at least `patch_size`."""
    if train_index.size == 0 or candidates.size == 0:
        return np.ones(candidates.size, dtype=bool)
    from scipy.spatial import cKDTree

    train_rc = np.column_stack(np.divmod(train_index, width)).astype(np.float64)
    cand_rc = np.column_stack(np.divmod(candidates, width)).astype(np.float64)
    distance, _ = cKDTree(train_rc).query(cand_rc, k=1, p=np.inf, distance_upper_bound=patch_size - 0.5)
    return ~np.isfinite(distance)


def _warn_small_class(class_id: int, n: int, k: int, per_class: int | str, independent: bool) -> None:
    """The small-class warning; with an independent test set the class simply trains on all its pixels."""
    if independent:
        log.warning(
            "class %d has only %d labelled pixels (fewer than --train-per-class %s): all %d train; its "
            "test pixels come from --test-labels",
            class_id,
            n,
            per_class,
            k,
        )
        return
    log.warning(
        "class %d has only %d labelled pixels (not more than --train-per-class %s): %d train, %d test",
        class_id,
        n,
        per_class,
        k,
        n - k,
    )


def _independent_test(
    train_index: np.ndarray, test_index: np.ndarray, test_classes: np.ndarray, params: SplitParams
) -> tuple[np.ndarray, np.ndarray]:
    """The independent test pixels less the training ones; DataError when that leaves none of them."""
    order = np.argsort(test_index, kind="stable")
    cand_index, cand_class = test_index[order], test_classes[order]
    not_train = ~np.isin(cand_index, train_index)
    if cand_index.size and not not_train.any():
        fix = (
            "pass the scene's train_labels.tif, not the original labels, with --train-per-class all"
            if params.train_per_class == ALL
            else "give --test-labels that hold pixels the --labels files do not"
        )
        raise DataError(
            f"every pixel of --test-labels ({cand_index.size}) is also a training pixel, so the scene would "
            f"have no test pixel: {fix}"
        )
    if not np.all(not_train):
        log.warning(
            "%d test pixels are also training pixels; they are left out of the test set",
            int((~not_train).sum()),
        )
    return cand_index[not_train], cand_class[not_train]


def split_pixels(
    index: np.ndarray,
    classes: np.ndarray,
    width: int,
    params: SplitParams,
    test_index: np.ndarray | None = None,
    test_classes: np.ndarray | None = None,
) -> SplitResult:
    """Split labelled pixels into training and test sets (rules in the module docstring).

    Args:
        index: flat indices of the labelled (valid) pixels of the training labels.
        classes: their class ids.
        width: scene width (to turn indices into rows and columns).
        params: mode, N per class, seed, patch and block sizes.
        test_index, test_classes: an independent test set; None tests on the remaining labelled pixels.
    """
    order = np.argsort(index, kind="stable")
    index, classes = index[order], classes[order]
    independent = test_index is not None and test_classes is not None
    chosen, small = _choose_training(index, classes, width, params, independent)
    for class_id, (n, k) in small.items():
        _warn_small_class(class_id, n, k, params.train_per_class, independent)
    train_index, train_class = index[chosen], classes[chosen]
    if test_index is not None and test_classes is not None:
        cand_index, cand_class = _independent_test(train_index, test_index, test_classes, params)
    else:  # nothing left to test when every pixel trains (`ALL`)
        cand_index, cand_class = index[~chosen], classes[~chosen]
    excluded = 0
    if params.mode == "blocks":
        far = _far_from(train_index, cand_index, width, params.patch_size)
        excluded = int((~far).sum())
        cand_index, cand_class = cand_index[far], cand_class[far]
    return SplitResult(train_index, train_class, cand_index, cand_class, excluded, small)
