"""The sample design sidecar: written and read in one module, every bad key one line."""

from __future__ import annotations

import json

import pytest

from cfipt_cli.contracts.sample_design import (
    SampleDesign,
    Stratum,
    design_path,
    read_design,
    write_design,
)
from cfipt_cli.errors import DataError


def _design(**changes):
    values = dict(
        map_path="/data/map.tif",
        map_sha256="ab" * 32,
        width=40,
        height=30,
        crs=None,
        transform=(1.0, 0.0, 0.0, 0.0, -1.0, 30.0),
        pixel_area_m2=900.0,
        strata=(Stratum(1, "water", 300, 50), Stratum(2, "forest", 900, 70)),
        strata_source="map",
        mapped_pixels={1: 300, 2: 905},
        allocation="min-per-class",
        seed=7,
        excluded_pixels=5,
        excluded_scene="/data/scene",
        expected_ua={1: 0.9, 2: 0.8},
        target_se=0.01,
        min_per_class=50,
    )
    return SampleDesign(**{**values, **changes})


def test_a_design_round_trips_beside_its_points(tmp_path):
    samples = tmp_path / "samples.gpkg"
    design = _design()
    assert write_design(samples, design) == design_path(samples) == tmp_path / "samples.gpkg.design.json"
    back = read_design(samples)
    assert back == design and back.sample_size == 120 and back.strata_are_map_classes


def test_a_sample_without_design_has_none(tmp_path):
    assert read_design(tmp_path / "points.gpkg") is None


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("allocation", "random", "'allocation' is wrong"),
        ("seed", -1, "'seed' is wrong"),
        ("format_version", 9, "'format_version' is wrong"),
        ("min_per_class", 0, "'min_per_class' is wrong"),
        ("target_se", 0.0, "'target_se' is wrong"),
        ("target_se", float("nan"), "'target_se' is wrong"),
        ("expected_ua", {"1": True}, "'expected_ua' is wrong"),
    ],
)
def test_a_damaged_design_is_one_line_naming_the_key(tmp_path, key, value, phrase):
    samples = tmp_path / "s.gpkg"
    write_design(samples, _design())
    doc = json.loads(design_path(samples).read_text())
    doc[key] = value
    design_path(samples).write_text(json.dumps(doc))
    with pytest.raises(DataError, match=phrase) as info:
        read_design(samples)
    assert "\n" not in str(info.value) and "cfipt sample" in str(info.value)


def test_a_stratum_with_more_points_than_pixels_is_refused(tmp_path):
    samples = tmp_path / "s.gpkg"
    write_design(samples, _design(strata=(Stratum(1, "water", 3, 5),)))
    with pytest.raises(DataError, match=r"strata\[0\].sample_size"):
        read_design(samples)


@pytest.mark.parametrize(
    ("key", "value"), [("pixel_area_m2", -900.0), ("pixel_area_m2", "900"), ("crs", 32632)]
)
def test_a_damaged_map_entry_is_refused_not_dropped(tmp_path, key, value):
    """A bad pixel area or CRS must not silently become "unknown" (which would drop the areas)."""
    samples = tmp_path / "s.gpkg"
    write_design(samples, _design())
    doc = json.loads(design_path(samples).read_text())
    doc["map"][key] = value
    design_path(samples).write_text(json.dumps(doc))
    with pytest.raises(DataError, match=f"'map.{key}' is wrong"):
        read_design(samples)
