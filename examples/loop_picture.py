"""The demo's picture of one round of the labelling loop: the first map, where the model is unsure with
the pixels `cfipt suggest` chose, and the map after fine-tuning on them (examples/out/loop.png).

    python loop_picture.py out/map.tif out/uncertainty.tif out/suggestions.gpkg out/map2.tif --out out/loop.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import rasterio


def coloured(path: Path) -> np.ndarray:
    """A class map as RGBA in its own colour table (nodata transparent)."""
    with rasterio.open(path) as src:
        ids, table = src.read(1), src.colormap(1)
    lut = np.zeros((256, 4), dtype=np.uint8)
    for value, rgba in table.items():
        lut[value] = rgba
    lut[0] = 0
    return lut[ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for name in ("map", "uncertainty", "suggestions", "map2"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--titles", nargs=3, default=None)
    args = parser.parse_args()
    with rasterio.open(args.uncertainty) as src:
        doubt = src.read(1)
    points = gpd.read_file(args.suggestions)
    titles = args.titles or ["map (round 0)", "uncertainty + suggestions", "map after one round"]
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 4.2), constrained_layout=True)
    axes[0].imshow(coloured(args.map), interpolation="nearest")
    shown = axes[1].imshow(doubt, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    axes[1].scatter(points["col"], points["row"], s=28, facecolors="none", edgecolors="cyan", linewidths=1.2)
    fig.colorbar(shown, ax=axes[1], shrink=0.8, label="normalised entropy")
    axes[2].imshow(coloured(args.map2), interpolation="nearest")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
