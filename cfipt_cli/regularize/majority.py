"""The majority vote of OTB's ClassificationMapRegularization, on one block with its halo.

Each pixel takes the label most frequent in the (2R + 1)^2 square around it. Nodata never votes and
never wins, and a nodata pixel stays nodata; a tie between the most frequent labels keeps the centre
label (OTB's default, `-ip.suvbool 0`). Pixels beyond the map's edge do not vote either (the caller
pads the block with nodata there), so the window shrinks at the edges.

Counts come from summed-area tables, one label at a time: the work is (labels in the block) x
(pixels of the block with its halo), and the memory a few arrays of that block.
"""

from __future__ import annotations

import numpy as np


def _window_counts(mask: np.ndarray, radius: int) -> np.ndarray:
    """For each pixel of the core (the mask less `radius` on every side), the number of True in the
    (2 radius + 1)^2 window around it."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int32)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int32), axis=1, out=table[1:, 1:])
    size = 2 * radius + 1
    return table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]


def majority_vote(padded: np.ndarray, radius: int, nodata: int) -> np.ndarray:
    """The voted labels of the core of `padded` (`radius` pixels of halo on every side, nodata where
    the halo falls outside the map). Labels are the pixel values; `nodata` marks pixels without one."""
    core = padded[radius : padded.shape[0] - radius, radius : padded.shape[1] - radius]
    best = np.zeros(core.shape, dtype=np.int32)
    winner = core.copy()
    tie = np.zeros(core.shape, dtype=bool)
    for label in np.unique(padded):
        if label == nodata:
            continue
        counts = _window_counts(padded == label, radius)
        more = counts > best
        tie &= ~more
        tie |= (counts == best) & (counts > 0)
        winner[more] = label
        np.maximum(best, counts, out=best)
    voted = np.where(tie, core, winner)
    voted[core == nodata] = nodata
    return voted
