"""The majority vote of OTB's ClassificationMapRegularization, on one block with its halo.

OTB votes in ITK's `BinaryBallStructuringElement` of radius R: the offsets (dy, dx) whose pixel
centre lies in the disc of diameter 2R + 1 around the centre pixel's, dy^2 + dx^2 <= (R + 1/2)^2
(`FlatStructuringElement::Ball`: an ellipsoid of axes 2R + 1 centred on the centre pixel, a pixel in
when its centre is). R = 1 is the full 3 x 3 square; from R = 2 on the corners do not vote (R = 2:
21 of 25 offsets, R = 3: 37 of 49). Each pixel takes the label most frequent in that footprint.
Nodata never votes and never wins, and a nodata pixel stays nodata; a tie between the most frequent
labels keeps the centre label (OTB's default, `-ip.suvbool 0`). Pixels beyond the map's edge do not
vote either (the caller pads the block with nodata there), so the footprint is cut at the edges.

Counts come from summed-area tables, one label at a time: the footprint is a stack of centred row
runs, and rows of equal half-width form one rectangle, so each count is a few rectangle sums. The
work is (labels in the block) x (pixels of the block with its halo) x (R + 1 at most), and the
memory a few arrays of that block.
"""

from __future__ import annotations

import math

import numpy as np


def ball_half_widths(radius: int) -> list[int]:
    """For each row offset dy = -radius..radius, the largest dx of the footprint in that row:
    the largest w with 4 (dy^2 + w^2) <= (2 radius + 1)^2, in integers."""
    diameter_sq = (2 * radius + 1) ** 2
    return [math.isqrt((diameter_sq - 4 * dy * dy) // 4) for dy in range(-radius, radius + 1)]


def ball_bands(radius: int) -> list[tuple[int, int, int]]:
    """The footprint as disjoint rectangles (first row offset, last row offset, half-width): runs
    of consecutive rows of equal half-width."""
    widths = ball_half_widths(radius)
    bands: list[tuple[int, int, int]] = []
    for dy, width in zip(range(-radius, radius + 1), widths, strict=True):
        if bands and bands[-1][2] == width:
            bands[-1] = (bands[-1][0], dy, width)
        else:
            bands.append((dy, dy, width))
    return bands


def _ball_counts(mask: np.ndarray, radius: int, bands: list[tuple[int, int, int]]) -> np.ndarray:
    """For each pixel of the core (the mask less `radius` on every side), the number of True in
    the footprint `bands` around it."""
    table = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int32)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int32), axis=1, out=table[1:, 1:])
    height, width = mask.shape[0] - 2 * radius, mask.shape[1] - 2 * radius
    counts = np.zeros((height, width), dtype=np.int32)
    for first, last, half in bands:
        top, bottom = radius + first, radius + last + 1  # table rows bounding the band
        left, right = radius - half, radius + half + 1
        counts += table[bottom : bottom + height, right : right + width]
        counts -= table[top : top + height, right : right + width]
        counts -= table[bottom : bottom + height, left : left + width]
        counts += table[top : top + height, left : left + width]
    return counts


def majority_vote(padded: np.ndarray, radius: int, nodata: int) -> np.ndarray:
    """The voted labels of the core of `padded` (`radius` pixels of halo on every side, nodata where
    the halo falls outside the map). Labels are the pixel values; `nodata` marks pixels without one."""
    core = padded[radius : padded.shape[0] - radius, radius : padded.shape[1] - radius]
    bands = ball_bands(radius)
    best = np.zeros(core.shape, dtype=np.int32)
    winner = core.copy()
    tie = np.zeros(core.shape, dtype=bool)
    for label in np.unique(padded):
        if label == nodata:
            continue
        counts = _ball_counts(padded == label, radius, bands)
        more = counts > best
        tie &= ~more
        tie |= (counts == best) & (counts > 0)
        winner[more] = label
        np.maximum(best, counts, out=best)
    voted = np.where(tie, core, winner)
    voted[core == nodata] = nodata
    return voted
