"""`Grid`: pixel centres in the grid's CRS and points back onto pixels."""

from __future__ import annotations

import numpy as np
from affine import Affine

from cfipt_cli.io.rasters import Grid


def test_pixel_centres_and_pixels_at_are_inverse_on_a_rotated_grid():
    """sample and suggest put points at pixel centres, evaluate and suggest map points back to pixels:
    the round trip is the identity, also for a rotated or sheared transform."""
    grid = Grid(7, 5, None, Affine(2.0, 0.5, 100.0, -0.3, -2.0, 50.0))
    rows, cols = np.mgrid[0:5, 0:7]
    xs, ys = grid.pixel_centres(rows.ravel(), cols.ravel())
    back_rows, back_cols, inside = grid.pixels_at(xs, ys)
    assert inside.all()
    np.testing.assert_array_equal(back_rows, rows.ravel())
    np.testing.assert_array_equal(back_cols, cols.ravel())
    x0, y0 = grid.transform * (0.25, 0.75)  # a point inside pixel (0, 0), off its centre
    assert [int(v[0]) for v in grid.pixels_at([x0], [y0])] == [0, 0, 1]
    outside_x, outside_y = grid.transform * (-0.5, 2.0)
    assert not grid.pixels_at([outside_x], [outside_y])[2][0]
