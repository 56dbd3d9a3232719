"""The demo's stand-in for a person labelling `cfipt suggest`'s points in QGIS: fill in their empty class
field from the sample scene's truth raster (truth.tif, written by make_sample.py), and write the
labelled points to a new file.

    python label_suggestions.py out/suggestions.gpkg out/sample/truth.tif --out out/labelled.gpkg
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import rasterio

from cfipt_cli.io.classes import ClassTable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("suggestions", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--field", default="class", help="the field to fill in")
    args = parser.parse_args()
    points = gpd.read_file(args.suggestions)
    table = ClassTable.from_aux_xml(args.truth)
    if table is None:
        raise SystemExit(f"{args.truth} has no class names (.aux.xml)")
    names = {c.id: c.name for c in table}
    with rasterio.open(args.truth) as src:
        truth = src.read(1)
    # the points sit at the centres of scene pixels, and the scene's grid is the HSI's (truth.tif's)
    points[args.field] = [names[int(truth[r, c])] for r, c in zip(points["row"], points["col"], strict=True)]
    points.to_file(args.out)
    print(f"{args.out}: {len(points)} points labelled")


if __name__ == "__main__":
    main()
