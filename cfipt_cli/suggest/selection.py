"""Choosing the N suggestions among the candidates: most uncertain first, spread, every class its share.

1. Shares: each predicted class among the candidates gets N // C suggestions (C classes); the
   remainder goes one each to the classes whose most uncertain candidate is the most uncertain.
2. The candidates of every class, merged in one list from the most to the least uncertain, are taken
   in turn: a candidate is accepted when its class's share is not full and it lies at least d pixels
   (Chebyshev distance: their d x d patches do not overlap when d is the patch size) from every
   suggestion accepted so far.
3. A share that its class could not fill (too few candidates far enough apart) goes to the others: a
   second walk down the same list accepts any spaced candidate until N are chosen.

Fewer than N can come out when the eligible pixels cannot be spread that far; the caller says so.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from cfipt_cli.suggest.candidates import Candidates


def class_shares(candidates: Candidates, n: int) -> dict[int, int]:
    """How many suggestions each predicted class is due (see step 1)."""
    classes = np.unique(candidates.cls)
    if len(classes) == 0:
        return {}
    base, extra = divmod(n, len(classes))
    best = {int(c): float(candidates.uncertainty[candidates.cls == c].max()) for c in classes}
    ranked = sorted(best, key=lambda c: (-best[c], c))
    return {c: base + (1 if i < extra else 0) for i, c in enumerate(ranked)}


class SpacedSet:
    """Accepted points on a grid of cells of side d: a new point needs Chebyshev distance >= d to all."""

    def __init__(self, distance: int):
        self.distance = distance
        self.cells: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)

    def fits(self, row: int, col: int) -> bool:
        d = self.distance
        cell_row, cell_col = row // d, col // d
        for r in (cell_row - 1, cell_row, cell_row + 1):
            for c in (cell_col - 1, cell_col, cell_col + 1):
                for other_row, other_col in self.cells.get((r, c), ()):
                    if max(abs(other_row - row), abs(other_col - col)) < d:
                        return False
        return True

    def add(self, row: int, col: int) -> None:
        self.cells[(row // self.distance, col // self.distance)].append((row, col))


def select(candidates: Candidates, n: int, distance: int) -> np.ndarray:
    """Indices into `candidates` of the suggestions, from the most to the least uncertain."""
    shares = class_shares(candidates, n)
    order = np.lexsort((candidates.key, -candidates.uncertainty))  # most uncertain first, all classes
    spaced, chosen = SpacedSet(max(1, distance)), list[int]()
    taken = dict.fromkeys(shares, 0)
    accepted = np.zeros(len(candidates), dtype=bool)
    for respect_shares in (True, False):
        for i in order:
            if len(chosen) == n:
                break
            cls, row, col = int(candidates.cls[i]), int(candidates.row[i]), int(candidates.col[i])
            if accepted[i] or (respect_shares and taken[cls] >= shares[cls]) or not spaced.fits(row, col):
                continue
            spaced.add(row, col)
            accepted[i] = True
            taken[cls] += 1
            chosen.append(i)
    chosen_array = np.asarray(chosen, dtype=np.int64)
    # final order: the most uncertain first (the rank users label by)
    return chosen_array[np.lexsort((candidates.key[chosen_array], -candidates.uncertainty[chosen_array]))]
