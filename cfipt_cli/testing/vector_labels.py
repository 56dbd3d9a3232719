"""Labels of a synthetic scene as GeoPackage layers (EPSG:4326): polygons of cells, points at pixels.

A polygon covers one labelled cell, inset by 0.3 px so that every pixel centre of the cell stays inside
after reprojection; a point sits at a pixel centre. geopandas and shapely are imported when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from affine import Affine

from cfipt_cli.testing.world import HSI_CRS

LABELS_CRS = "EPSG:4326"


def cell_polygons(
    cells: np.ndarray, cell: int, labelled: np.ndarray, transform: Affine, names: Sequence[str]
) -> Any:
    import geopandas as gpd
    from shapely.geometry import box

    inset = 0.3  # pixels: every pixel centre of the cell stays inside after reprojection
    records, geoms = [], []
    for r, c in np.argwhere(labelled).tolist():
        x0, y0 = transform @ (c * cell + inset, r * cell + inset)
        x1, y1 = transform @ ((c + 1) * cell - inset, (r + 1) * cell - inset)
        geoms.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        class_id = int(cells[r, c])
        records.append({"class": names[class_id - 1], "class_id": class_id})
    return gpd.GeoDataFrame(records, geometry=geoms, crs=HSI_CRS).to_crs(LABELS_CRS)


def label_points(
    truth: np.ndarray, transform: Affine, names: Sequence[str], per_class: int, seed: int
) -> Any:
    import geopandas as gpd
    from shapely.geometry import Point

    rng = np.random.default_rng(seed + 13)
    rows, cols, classes = [], [], []
    for class_id in range(1, len(names) + 1):
        rr, cc = np.nonzero(truth == class_id)
        pick = rng.choice(rr.size, size=min(per_class, rr.size), replace=False)
        rows += rr[pick].tolist()
        cols += cc[pick].tolist()
        classes += [class_id] * pick.size
    xy = [transform @ (c + 0.5, r + 0.5) for r, c in zip(rows, cols, strict=True)]
    gdf = gpd.GeoDataFrame(
        {"class": [names[k - 1] for k in classes], "class_id": classes},
        geometry=[Point(x, y) for x, y in xy],
        crs=HSI_CRS,
    ).to_crs(LABELS_CRS)
    return gdf, np.array(rows), np.array(cols), np.array(classes)
