"""Write the demo's small sample scene (seeded, about 1 MB) to examples/out/sample/.

hsi.tif       120 x 100 px, 32 bands, float32, EPSG:32632 at 2 m
dsm.tif       the DSM in EPSG:32633 (another CRS) at 3 m
labels.gpkg   training polygons in EPSG:4326, field `class` with 5 named classes
points.gpkg   labelled points (EPSG:4326), e.g. an independent test set
truth.tif     the class of every pixel (with its names): the oracle of the demo's labelling round
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.class_raster import write_class_raster
from cfipt_cli.testing.synthetic import SceneSpec, make_scene

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the cfipt demo's sample scene.")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "sample", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()
    spec = SceneSpec(height=120, width=100, n_bands=32, n_classes=5, seed=args.seed, cell=10, res=2.0)
    scene = make_scene(args.out, spec)
    dsm = scene.root / "dsm.tif"
    scene.lidar.replace(dsm)
    scene.label_raster.unlink()
    classes = ClassTable.from_json([{"id": i, "name": n} for i, n in enumerate(scene.class_names, start=1)])
    truth = write_class_raster(
        scene.root / "truth.tif",
        scene.truth.astype("uint8"),
        crs=scene.crs,
        transform=scene.transform,
        classes=classes,
    )
    for path in (scene.hsi, dsm, scene.polygons, scene.points, truth):
        print(path)


if __name__ == "__main__":
    main()
