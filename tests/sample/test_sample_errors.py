"""Bad inputs of `cfipt sample`: one line on stderr, exit 1 (data) or 2 (usage), nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from sample_builders import class_map, write_raster, write_scene

from cfipt_cli.io.classes import ClassTable


@pytest.fixture
def clean_map(tmp_path: Path, table: ClassTable) -> Path:
    """Classes 1..4 and nodata only (no value outside the table, so no warning before the error)."""
    values = class_map()
    values[values == 9] = 0
    (tmp_path / "inputs").mkdir()
    return write_raster(tmp_path / "inputs" / "map.tif", values, classes=table)


def _fails(sample_cli, tmp_path: Path, code: int, message: str, *args: object) -> None:
    out = tmp_path / "out" / "samples.gpkg"
    got, _, stderr = sample_cli(*args, "--out", out)
    assert got == code, stderr
    assert stderr.startswith("cfipt: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_map_without_class_table(sample_cli, tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    bare = write_raster(tmp_path / "inputs" / "bare.tif", class_map())
    _fails(sample_cli, tmp_path, 1, "has no class table", bare, "-n", "10")


def test_more_points_than_pixels_says_how_many(sample_cli, tmp_path: Path, clean_map: Path) -> None:
    eligible = int((class_map() % 9 > 0).sum())
    _fails(sample_cli, tmp_path, 1, f"more than the {eligible} pixels", clean_map, "-n", "100000")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--per-class", "Lava=5"], "--per-class Lava: the map has no class of that name"),
        (["--expected-ua", "Lava=0.8"], "--expected-ua Lava: the map has no class of that name"),
        (["--expected-ua", "Water=0.8"], "--expected-ua names no value for Trees, Grass, Road"),
    ],
)
def test_unknown_class_names(
    sample_cli, tmp_path: Path, clean_map: Path, args: list[str], message: str
) -> None:
    _fails(sample_cli, tmp_path, 2, message, clean_map, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expected-ua", "1.2"], "an expected user's accuracy is in (0, 1)"),
        (["--expected-ua", "Water=0"], "--expected-ua Water=0.0: an expected user's accuracy is in (0, 1)"),
        (["--expected-ua", "0.8", "--target-se", "0"], "--target-se 0.0"),
        ([], "give the sample size"),
        (["-n", "10", "--expected-ua", "0.8"], "give the sample size"),
        (["-n", "0"], "-n 0: the sample size must be at least 1"),
        (["-n", "10", "--per-class", "Water=3"], "--per-class gives the sample size"),
        (["--per-class", "Water"], "--per-class expects NAME=N"),
        (["--per-class", "Water=x"], "'x' is not a number"),
        (["-n", "10", "--allocation", "random"], "--allocation random: give one of"),
        (["-n", "10", "--min-per-class", "5", "--allocation", "equal"], "--min-per-class goes with"),
        (["-n", "10", "--allocation", "min-per-class"], "too small for --min-per-class 50"),
    ],
)
def test_bad_sizes(sample_cli, tmp_path: Path, clean_map: Path, args: list[str], message: str) -> None:
    _fails(sample_cli, tmp_path, 2, message, clean_map, *args)


def test_an_output_format_without_writer(sample_cli, tmp_path: Path, clean_map: Path) -> None:
    code, _, stderr = sample_cli(clean_map, "-n", "5", "--out", tmp_path / "out" / "samples.shp")
    assert code == 2 and "give a file ending in .fgb, .geojson, .gpkg" in stderr and stderr.count("\n") == 1


def test_a_scene_on_another_grid(sample_cli, tmp_path: Path, clean_map: Path, table: ClassTable) -> None:
    labels = np.zeros((60, 70), dtype=np.uint8)
    shifted = Affine(10.0, 0.0, 500010.0, 0.0, -10.0, 4100000.0)
    scene = write_scene(tmp_path / "inputs" / "scene", labels, labels, table, transform=shifted)
    _fails(sample_cli, tmp_path, 1, "are not on the map's grid", clean_map, "-n", "5", "--exclude", scene)


def test_overwrite_leaves_a_file_cfipt_did_not_write(sample_cli, tmp_path: Path, clean_map: Path) -> None:
    out = tmp_path / "mine.gpkg"
    out.write_bytes(b"not a sample")
    code, _, stderr = sample_cli(clean_map, "-n", "5", "--out", out, "--overwrite")
    assert code == 1 and "is not a sample of cfipt sample" in stderr
    assert out.read_bytes() == b"not a sample" and not (tmp_path / "mine.gpkg.design.json").exists()


def test_a_raster_given_as_class_table(sample_cli, tmp_path: Path, clean_map: Path) -> None:
    out = tmp_path / "out" / "samples.gpkg"
    code, _, stderr = sample_cli(clean_map, "-n", "5", "--out", out, "--classes", clean_map)
    assert code == 1 and stderr.count("\n") == 1 and "is not readable JSON" in stderr
    assert not (tmp_path / "out").exists()


def test_a_sample_never_goes_into_the_excluded_scene(
    sample_cli, tmp_path: Path, clean_map: Path, table
) -> None:
    labels = np.zeros((60, 70), dtype=np.uint8)
    scene = write_scene(tmp_path / "inputs" / "scene", labels, labels, table)
    before = sorted(p.name for p in scene.iterdir())
    code, _, stderr = sample_cli(clean_map, "-n", "5", "--exclude", scene, "--out", scene / "samples.gpkg")
    assert code == 2 and "would replace the input" in stderr and stderr.count("\n") == 1
    assert sorted(p.name for p in scene.iterdir()) == before
