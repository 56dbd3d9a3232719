"""The four-command loop of issue 14 through the CLI: sample a map, label the points, evaluate them.

The overall accuracy is checked against Olofsson et al. (2014), computed here from the labelled points
and the design alone: OA = sum_h W_h * (correct_h / n_h), W_h = N_h / N.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import rasterio
from sample_builders import NAMES, class_map, write_raster

from cfipt_cli.contracts.sample_design import read_design
from cfipt_cli.io.classes import ClassTable


def test_a_sample_drawn_labelled_and_evaluated_gives_the_stratified_estimate(tmp_path, run_cli):
    classes = ClassTable.from_names(NAMES)
    map_values = class_map(seed=4, shape=(80, 90))
    map_values[map_values == 9] = 0  # only classes of the table
    map_path = write_raster(tmp_path / "map.tif", map_values, classes=classes)
    samples = tmp_path / "samples.gpkg"
    code, _, err = run_cli(["-q", "sample", map_path, "--out", samples, "-n", "120", "--min-per-class", "20"])
    assert code == 0, err

    # "Label in QGIS": the truth is the map except that every third Grass point is really Trees.
    points = gpd.read_file(samples)
    truth = points["map_class"].copy()
    grass = np.flatnonzero(truth == "Grass")
    truth.iloc[grass[::3]] = "Trees"
    truth.iloc[: len(points) // 10] = ""  # some points are never visited: left out, not a crash
    points["reference"] = truth
    points.to_file(samples, layer="samples", driver="GPKG")

    report = tmp_path / "report"
    code, _, err = run_cli(
        ["-q", "evaluate", map_path, "-r", samples, "--field", "reference", "--out", report]
    )
    assert code == 0, err
    area = json.loads((tmp_path / "report.json").read_text())["area_estimates"]

    design = read_design(samples)
    weights = {s.id: s.pixels / sum(t.pixels for t in design.strata) for s in design.strata}
    labelled = points[points["reference"] != ""]
    expected_oa = sum(
        weights[h] * float((group["reference"] == group["map_class"]).mean())
        for h, group in labelled.groupby("stratum")
    )
    assert area["strata_are_map_classes"] and area["sample_size"] == len(labelled)
    assert abs(area["overall_accuracy"]["estimate"] - expected_oa) < 1e-12
    assert area["points"]["unlabelled"] == len(points) // 10
    with rasterio.open(map_path) as src:  # the estimated areas add up to the mapped (valid) area
        valid = int((src.read(1) > 0).sum())
    assert abs(sum(c["area"]["pixels"]["estimate"] for c in area["classes"]) - valid) < 1e-6 * valid
