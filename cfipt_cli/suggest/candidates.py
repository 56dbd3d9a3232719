"""The candidates of `cfipt suggest`, gathered block by block in bounded memory.

The scene is cut into square cells whose side is the minimum distance d between two suggestions. Two
suggestions can never share a cell, so only the most uncertain eligible pixel of each (predicted class,
cell) can be needed, and a class keeps at most `keep` of those (its most uncertain): memory is bounded
by classes x keep, whatever the scene's size. A suggestion rules out at most the 3 x 3 cells around its
own, so a class whose `keep` candidates are spread over that many cells can always fill a share of
`keep / 9` suggestions.

Ties between equal uncertainties are broken by a seeded random key, so a run is reproducible and the
choice among equals is not biased towards the top-left of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FIELDS = ("cls", "row", "col", "uncertainty", "probability", "key")


@dataclass
class Candidates:
    """Columns of candidate pixels (one row per pixel): predicted class id, scene row and column, the
    uncertainty, the predicted class's probability (NaN when unknown) and the tie-break key."""

    cls: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    row: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    col: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    uncertainty: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    probability: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))
    key: np.ndarray = field(default_factory=lambda: np.empty(0, np.float64))

    def __len__(self) -> int:
        return len(self.cls)

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(*(getattr(self, name)[index] for name in FIELDS))

    @staticmethod
    def joined(parts: list[Candidates]) -> Candidates:
        return Candidates(*(np.concatenate([getattr(p, name) for p in parts]) for name in FIELDS))

    def by_doubt(self) -> np.ndarray:
        """Row order: class, then most uncertain first, ties by key."""
        return np.lexsort((self.key, -self.uncertainty, self.cls))


class CandidatePool:
    """The best pixel of each (class, cell), at most `keep` per class, fed block by block."""

    def __init__(self, cell: int, keep: int, seed: int):
        self.cell, self.keep = cell, keep
        self.rng = np.random.default_rng(seed)
        self.kept = Candidates()

    def add(
        self, cls: np.ndarray, row: np.ndarray, col: np.ndarray, unc: np.ndarray, prob: np.ndarray
    ) -> None:
        """Add the eligible pixels of a block (scene coordinates) and prune to the bound."""
        if len(cls) == 0:
            return
        new = Candidates(
            cls.astype(np.int64),
            row.astype(np.int64),
            col.astype(np.int64),
            unc.astype(np.float64),
            prob.astype(np.float64),
            self.rng.random(len(cls)),
        )
        self.kept = self._pruned(Candidates.joined([self.kept, new]))

    def _pruned(self, pool: Candidates) -> Candidates:
        order = pool.by_doubt()
        pool = pool.take(order)
        cells = (pool.row // self.cell) * (1 << 31) + pool.col // self.cell
        # the first row of each (class, cell) in doubt order is its most uncertain pixel
        _, first = np.unique(np.stack([pool.cls, cells]), axis=1, return_index=True)
        pool = pool.take(np.sort(first))  # sorted: still in (class, doubt) order
        rank_in_class = np.arange(len(pool)) - np.searchsorted(pool.cls, pool.cls, side="left")
        return pool.take(np.nonzero(rank_in_class < self.keep)[0])
