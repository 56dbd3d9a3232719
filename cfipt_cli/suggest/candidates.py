"""The candidates of `cfipt suggest`, gathered block by block in bounded memory.

The scene is cut into square cells of side ceil(d / 3), d the minimum distance between two
suggestions; each (predicted class, cell) keeps its most uncertain eligible pixel, and a class keeps at
most `keep` of those (its most uncertain): memory is bounded by classes x keep, whatever the scene's
size. Cells a third of d wide matter: with cells of side d, the best pixel of a cell could be ruled out
by a neighbouring suggestion while another pixel of the same class in that cell would still fit (a
small class in one corner of a cell would then get nothing); with a third, a cell's pixels are within
d / 3 of each other in each direction, so a blocked best pixel leaves its class the other cells.

Ties between equal uncertainties are broken by a key hashed from the seed and the pixel's position, so
a run is reproducible, does not depend on the block size, and the choice among equals is not biased
towards the top-left of the scene.
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


def cell_side(distance: int) -> int:
    """The side of the pool's cells for suggestions `distance` pixels apart (see the module docstring)."""
    return max(1, -(-distance // 3))


def tie_keys(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """A key in [0, 1) for each pixel from (seed, row, col) alone (splitmix64's mix)."""
    with np.errstate(over="ignore"):
        x = (rows.astype(np.uint64) << np.uint64(32)) ^ cols.astype(np.uint64)
        x ^= np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class CandidatePool:
    """The best pixel of each (class, cell), at most `keep` per class, fed block by block."""

    def __init__(self, cell: int, keep: int, seed: int):
        self.cell, self.keep, self.seed = cell, keep, seed
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
            tie_keys(row, col, self.seed),
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
