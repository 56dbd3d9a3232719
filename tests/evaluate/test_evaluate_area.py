"""`cfipt evaluate` on a validation sample with a design: the area-adjusted estimates in every report.

The expected figures are computed here by hand from the sample counts, with the formulas of Olofsson
et al. (2014, eq. 1 to 10) and the finite population correction (1 - n_i / N_i) of Stehman (2014), which
`area_estimates` applies by default; they are not taken from `area_estimates`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from evaluate_builders import GRID_TRANSFORM, UTM, evaluate, write_raster

from cfipt_cli.contracts.sample_design import SampleDesign, Stratum, write_design
from cfipt_cli.evaluate.area_estimates import STEHMAN
from cfipt_cli.io.files import sha256_file

NAMES = ["Water", "Trees", "Grass"]
# The map: Water on rows 0-9 (200 px), Trees on rows 10-15 (120 px), Grass on rows 16-19 (80 px).
ROWS = {1: range(0, 10), 2: range(10, 16), 3: range(16, 20)}
# The sample, per stratum (= map class): the reference class of each point (a point per row, column 3).
REFERENCES = {1: [1, 1, 1, 1, 2], 2: [2, 2, 1, 3, 2], 3: [3, 3, 2, 3]}


def _map(tmp_path: Path, table: Any) -> Path:
    classes = np.zeros((20, 20), np.uint8)
    for class_id, rows in ROWS.items():
        classes[rows.start : rows.stop] = class_id
    return write_raster(tmp_path / "map.tif", classes, classes=table)


def _centre(row: float, col: float) -> tuple[float, float]:
    return GRID_TRANSFORM * (col + 0.5, row + 0.5)


def _points(tmp_path: Path, extra: list[dict[str, Any]] | None = None, name: str = "samples.gpkg") -> Path:
    """The sample of REFERENCES as a point layer with cfipt sample's fields (`extra`: more points)."""
    import geopandas as gpd
    from shapely.geometry import Point

    records = []
    for stratum, references in REFERENCES.items():
        for k, reference in enumerate(references):
            row = ROWS[stratum].start + k
            records.append(
                {
                    "stratum": stratum,
                    "map_id": stratum,
                    "reference": NAMES[reference - 1],
                    "xy": _centre(row, 3),
                }
            )
    records += extra or []
    frame = gpd.GeoDataFrame(
        {
            "sample_id": list(range(1, len(records) + 1)),
            "stratum": [r["stratum"] for r in records],
            "map_id": [r["map_id"] for r in records],
            "map_class": [NAMES[r["map_id"] - 1] if r["map_id"] else "" for r in records],
            "reference": [r["reference"] for r in records],
        },
        geometry=[Point(*r["xy"]) for r in records],
        crs=UTM,
    )
    path = tmp_path / name
    frame.to_file(path)
    return path


def _design(
    samples: Path, map_path: Path, sha256: str | None = None, pixels: dict[int, int] | None = None
) -> None:
    pixels = pixels or {c: len(r) * 20 for c, r in ROWS.items()}
    strata = tuple(Stratum(c, NAMES[c - 1], pixels[c], len(REFERENCES[c])) for c in ROWS)
    design = SampleDesign(
        map_path=str(map_path),
        map_sha256=sha256 or sha256_file(map_path),
        width=20,
        height=20,
        crs=UTM,
        transform=tuple(GRID_TRANSFORM)[:6],
        pixel_area_m2=100.0,
        strata=strata,
        strata_source="map",
        mapped_pixels=pixels,
        allocation="given",
        seed=7,
    )
    write_design(samples, design)


def _expected() -> dict[str, Any]:
    """Olofsson et al. (2014) by hand on the counts, with the finite population correction."""
    n = np.zeros((3, 3))
    for stratum, references in REFERENCES.items():
        for reference in references:
            n[stratum - 1, reference - 1] += 1
    big_n = np.array([200.0, 120.0, 80.0])
    weights = big_n / big_n.sum()
    n_i = n.sum(axis=1)
    fpc = 1 - n_i / big_n
    p = weights[:, None] * n / n_i[:, None]  # eq. 4
    users = np.diag(n) / n_i
    overall = np.trace(p)
    overall_se = math.sqrt(float(np.sum(weights**2 * fpc * users * (1 - users) / (n_i - 1))))  # eq. 5
    users_se = np.sqrt(fpc * users * (1 - users) / (n_i - 1))  # eq. 6
    share = n / n_i[:, None]
    area = p.sum(axis=0)  # eq. 9
    area_se = np.sqrt(np.sum((weights**2 * fpc)[:, None] * share * (1 - share) / (n_i - 1)[:, None], axis=0))
    return {
        "p": p,
        "overall": overall,
        "overall_se": overall_se,
        "users": users,
        "users_se": users_se,
        "producers": np.diag(p) / area,
        "area": area,
        "area_se": area_se,
        "N": big_n.sum(),
    }


def _sample(tmp_path: Path, table: Any, extra: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    map_path = _map(tmp_path, table)
    samples = _points(tmp_path, extra)
    _design(samples, map_path)
    return map_path, samples


def test_area_estimates_match_olofsson_by_hand(tmp_path, table):
    map_path, samples = _sample(tmp_path, table)
    report = evaluate(map_path, samples, field="reference").to_json()
    area = report["area_estimates"]
    want = _expected()
    assert area["sample_size"] == 14 and area["population_pixels"] == 400
    assert area["strata_are_map_classes"] and area["pixel_area_m2"] == 100.0
    assert area["overall_accuracy"]["estimate"] == pytest.approx(want["overall"])
    assert area["overall_accuracy"]["se"] == pytest.approx(want["overall_se"])
    low, high = area["overall_accuracy"]["ci95"]
    assert (low, high) == pytest.approx(
        (want["overall"] - 1.96 * want["overall_se"], want["overall"] + 1.96 * want["overall_se"])
    )
    by_name = {c["name"]: c for c in area["classes"]}
    for i, name in enumerate(NAMES):
        c = by_name[name]
        assert c["users_accuracy"]["estimate"] == pytest.approx(want["users"][i])
        assert c["users_accuracy"]["se"] == pytest.approx(want["users_se"][i])
        assert c["producers_accuracy"]["estimate"] == pytest.approx(want["producers"][i])
        assert c["area"]["proportion"]["estimate"] == pytest.approx(want["area"][i])
        assert c["area"]["proportion"]["se"] == pytest.approx(want["area_se"][i])
        assert c["area"]["pixels"]["estimate"] == pytest.approx(want["area"][i] * want["N"])
        assert c["area"]["ha"]["estimate"] == pytest.approx(want["area"][i] * want["N"] * 100 / 1e4)
        assert c["mapped_area"]["pixels"] == len(ROWS[i + 1]) * 20
    ids = [by_name[n]["id"] for n in NAMES]
    order = [c["id"] for c in area["classes"]]
    cells = area["error_matrix"]["proportions"]
    for i in range(3):
        for j in range(3):
            assert cells[order.index(ids[i])][order.index(ids[j])]["estimate"] == pytest.approx(
                want["p"][i, j]
            )
    assert area["design"]["allocation"] == "given" and area["design"]["seed"] == 7
    assert area["design"]["map_sha256_matches"] is True
    assert area["points"]["total"] == 14 and area["points"]["used"] == 14
    # The confusion matrix of counts is still there, as before.
    assert report["pixels"]["evaluated"] == 14


def test_a_census_gives_the_counts_with_zero_se(tmp_path, table):
    import geopandas as gpd
    from shapely.geometry import Point

    classes = np.array([[1, 1, 2], [2, 2, 2]], np.uint8)
    map_path = write_raster(tmp_path / "map.tif", classes, classes=table)
    reference = [[1, 2, 2], [1, 2, 2]]  # every pixel sampled
    records = [(r, c, int(classes[r, c]), reference[r][c]) for r in range(2) for c in range(3)]
    frame = gpd.GeoDataFrame(
        {
            "stratum": [m for *_, m, _ in records],
            "map_id": [m for *_, m, _ in records],
            "truth": [v for *_, v in records],
        },
        geometry=[Point(*_centre(r, c)) for r, c, _, _ in records],
        crs=UTM,
    )
    samples = tmp_path / "census.gpkg"
    frame.to_file(samples)
    design = SampleDesign(
        str(map_path), sha256_file(map_path), 3, 2, UTM, tuple(GRID_TRANSFORM)[:6], 100.0,
        (Stratum(1, "Water", 2, 2), Stratum(2, "Trees", 4, 4)), "map", {1: 2, 2: 4}, "proportional", 1,
    )  # fmt: skip
    write_design(samples, design)
    area = evaluate(map_path, samples, field="truth").to_json()["area_estimates"]
    by_name = {c["name"]: c for c in area["classes"]}
    assert by_name["Water"]["area"]["pixels"]["estimate"] == pytest.approx(2)  # reference counts
    assert by_name["Trees"]["area"]["pixels"]["estimate"] == pytest.approx(4)
    assert area["overall_accuracy"]["estimate"] == pytest.approx(4 / 6)
    assert area["overall_accuracy"]["se"] == 0
    assert all(by_name[n]["area"]["pixels"]["se"] == 0 for n in ("Water", "Trees"))


def test_unlabelled_nodata_and_outside_points_are_counted_and_left_out(tmp_path, table):
    (tmp_path / "a").mkdir()
    plain = evaluate(*_sample(tmp_path / "a", table), field="reference")
    extra = [
        {"stratum": 1, "map_id": 1, "reference": "", "xy": _centre(8, 8)},  # unlabelled
        {"stratum": 1, "map_id": 1, "reference": None, "xy": _centre(8, 9)},  # unlabelled (null)
        {"stratum": 2, "map_id": 2, "reference": "Trees", "xy": _centre(-3, 4)},  # outside the map
        {"stratum": 3, "map_id": 3, "reference": "Grass", "xy": _centre(19, 25)},  # outside the map
        {"stratum": 9, "map_id": 1, "reference": "Water", "xy": _centre(9, 9)},  # in no stratum
    ]
    (tmp_path / "b").mkdir()
    map_path, samples = _sample(tmp_path / "b", table, extra)
    result = evaluate(map_path, samples, field="reference")
    area = result.to_json()["area_estimates"]
    assert area["points"] == {
        "total": 19,
        "used": 14,
        "unlabelled": 2,
        "on_nodata": 0,
        "outside_map": 2,
        "in_no_stratum": 1,
        "unmatched_reference": 0,
        "map_id_differs": 0,
    }
    assert any(
        "left out: 2 without a reference class, 2 outside the map, 1 in no stratum" in w
        for w in result.warnings
    )
    before = plain.to_json()["area_estimates"]
    assert area["overall_accuracy"] == before["overall_accuracy"]
    assert area["classes"] == before["classes"]


def test_points_on_nodata_are_left_out(tmp_path, table):
    map_path, samples = _sample(tmp_path, table)
    classes = np.zeros((20, 20), np.uint8)
    for class_id, rows in ROWS.items():
        classes[rows.start : rows.stop] = class_id
    classes[0, 3] = 0  # the first Water point falls on nodata
    write_raster(map_path, classes, classes=table)
    result = evaluate(map_path, samples, field="reference")
    area = result.to_json()["area_estimates"]
    assert area["points"]["on_nodata"] == 1 and area["points"]["used"] == 13
    # A different map than the design's: warned.
    assert area["design"]["map_sha256_matches"] is False
    assert any("is not the map the sample was drawn from" in w for w in result.warnings)


def test_map_class_is_read_from_the_map_and_a_wrong_map_id_warned(tmp_path, table):
    extra = [{"stratum": 2, "map_id": 3, "reference": "Trees", "xy": _centre(15, 10)}]  # map says Trees
    map_path, samples = _sample(tmp_path, table, extra)
    result = evaluate(map_path, samples, field="reference")
    area = result.to_json()["area_estimates"]
    assert area["points"]["map_id_differs"] == 1 and area["points"]["used"] == 15
    trees = next(c for c in area["classes"] if c["name"] == "Trees")
    assert trees["units_mapped"] == 6
    assert any("have a map_id other than the map's class" in w for w in result.warnings)


def test_a_checksum_mismatch_is_warned(tmp_path, table):
    map_path = _map(tmp_path, table)
    samples = _points(tmp_path)
    _design(samples, map_path, sha256="0" * 64)
    result = evaluate(map_path, samples, field="reference")
    assert result.to_json()["area_estimates"]["design"]["map_sha256_matches"] is False
    assert any("its sha256 differs from the design's" in w for w in result.warnings)


def test_a_sample_without_design_gets_a_note_and_no_area_section(tmp_path, table):
    map_path = _map(tmp_path, table)
    samples = _points(tmp_path)
    result = evaluate(map_path, samples, field="reference")
    report = result.to_json()
    assert "area_estimates" not in report
    assert any("no area estimate" in w and "no sample design beside it" in w for w in report["warnings"])
    assert report["pixels"]["evaluated"] == 14


def test_strata_from_a_raster_use_stehman_and_agree_with_the_map_strata(tmp_path, table):
    map_path, samples = _sample(tmp_path, table)
    designed = evaluate(map_path, samples, field="reference").to_json()["area_estimates"]
    strata = np.zeros((20, 20), np.uint8)
    for class_id, rows in ROWS.items():
        strata[rows.start : rows.stop] = class_id
    strata_path = write_raster(tmp_path / "strata.tif", strata)
    area = evaluate(map_path, samples, field="reference", strata=strata_path).to_json()["area_estimates"]
    assert area["method"] == STEHMAN and area["strata"] == str(strata_path)
    assert area["population_pixels"] == 400
    assert area["overall_accuracy"]["estimate"] == pytest.approx(designed["overall_accuracy"]["estimate"])
    assert area["overall_accuracy"]["se"] == pytest.approx(designed["overall_accuracy"]["se"])
    for got, want in zip(area["classes"], designed["classes"], strict=True):
        assert got["area"]["pixels"]["estimate"] == pytest.approx(want["area"]["pixels"]["estimate"])
        assert got["mapped_area"] == want["mapped_area"]


def test_report_files_hold_the_area_sections_and_summary_reads_them(tmp_path, table, run_cli):
    map_path, samples = _sample(tmp_path, table)
    code, out, err = run_cli(
        "evaluate", map_path, "-r", samples, "--field", "reference", "--out", tmp_path / "rep"
    )
    assert code == 0, err
    assert "Area-adjusted accuracy" in out and "estimated ha" in out
    report = json.loads((tmp_path / "rep.json").read_text())
    assert report["area_estimates"]["sample_size"] == 14
    markdown = (tmp_path / "rep.md").read_text()
    assert "UA 95 % CI" in markdown and "map \\ reference" in markdown
    lines = (tmp_path / "rep.area.csv").read_text().splitlines()
    assert lines[0] == "table,class,reference_class,unit,estimate,se,ci95_low,ci95_high"
    assert any(line.startswith("overall_accuracy,,,proportion,") for line in lines)
    assert sum(line.startswith("error_matrix,") for line in lines) == 25  # the 5 classes of the map
    assert (tmp_path / "rep.area.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "rep.csv").read_text().startswith("#Reference labels (rows):")
    code, out, err = run_cli("evaluate", "--summary", tmp_path / "rep.json")
    assert code == 0, err
    # Written again over cfipt's own files with --overwrite.
    code, _, err = run_cli(
        "evaluate", map_path, "-r", samples, "--field", "reference", "--out", tmp_path / "rep", "--overwrite"
    )
    assert code == 0, err


def test_a_report_with_a_damaged_area_section_is_refused_by_summary(tmp_path, table, run_cli):
    map_path, samples = _sample(tmp_path, table)
    report = evaluate(map_path, samples, field="reference").to_json()
    report["area_estimates"]["classes"] = "none"
    (tmp_path / "bad.json").write_text(json.dumps(report))
    code, _, err = run_cli("evaluate", "--summary", tmp_path / "bad.json")
    assert code == 1 and "area_estimates.classes" in err


def test_design_strata_of_another_map_use_stehman(tmp_path, table):
    map_path, samples = _sample(tmp_path, table)
    designed = evaluate(map_path, samples, field="reference").to_json()["area_estimates"]
    design_file = samples.with_name(samples.name + ".design.json")
    data = json.loads(design_file.read_text())
    data["strata_source"] = str(tmp_path / "other.tif")  # drawn with the strata of another raster
    design_file.write_text(json.dumps(data))
    area = evaluate(map_path, samples, field="reference").to_json()["area_estimates"]
    assert area["method"] == STEHMAN and not area["strata_are_map_classes"]
    assert area["overall_accuracy"]["estimate"] == pytest.approx(designed["overall_accuracy"]["estimate"])
    assert area["overall_accuracy"]["se"] == pytest.approx(designed["overall_accuracy"]["se"])
    assert [c["mapped_area"] for c in area["classes"]] == [c["mapped_area"] for c in designed["classes"]]


def test_strata_need_a_sample_of_points_and_an_existing_raster(tmp_path, table, run_cli):
    map_path, samples = _sample(tmp_path, table)
    code, _, err = run_cli("evaluate", map_path, "-r", map_path, "--strata", map_path)
    assert code == 2 and "--strata applies to a sample of points" in err
    code, _, err = run_cli(
        "evaluate", map_path, "-r", samples, "--field", "reference", "--strata", tmp_path / "no.tif"
    )
    assert code != 0 and "strata raster" in err and "does not exist" in err
    code, out, err = run_cli(
        "evaluate", map_path, "-r", samples, "--field", "reference", "--strata", map_path
    )
    assert code == 0, err
    assert "Stehman (2014)" in out
