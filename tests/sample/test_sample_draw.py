"""`cfipt sample` on small maps: the strata's counts, the points' pixels, the seed, the design, the style."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from sample_builders import NAMES, class_map, write_raster, write_scene

from cfipt_cli.contracts.sample_design import POINT_FIELDS, read_design
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file
from cfipt_cli.sample.pipeline import run_sample
from cfipt_cli.sample.request import SampleRequest, SampleSize


def _sample(map_path: Path, out: Path, size: SampleSize, **options: object) -> dict:
    return run_sample(SampleRequest(map_path, out, size, **options))  # type: ignore[arg-type]


def _map_values(map_path: Path, points: gpd.GeoDataFrame) -> np.ndarray:
    with rasterio.open(map_path) as src:
        return np.array([v[0] for v in src.sample([(p.x, p.y) for p in points.geometry])])


def test_points_sit_at_pixel_centres_of_their_stratum_in_the_allocated_numbers(
    map_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "samples.gpkg"
    summary = _sample(map_path, out, SampleSize(n=100, min_per_class=20))
    points = gpd.read_file(out, layer="samples")
    assert list(points.columns) == [*POINT_FIELDS, "geometry"]
    assert points.crs.to_epsg() == 32618 and len(points) == 100
    assert sorted(points["sample_id"]) == list(range(1, 101))
    allocated = {c["id"]: c["sample_size"] for c in summary["classes"]}
    assert allocated == {1: 20, 2: 38, 3: 22, 4: 20}
    assert points["stratum"].value_counts().to_dict() == allocated
    values = _map_values(map_path, points)
    assert (values == points["stratum"]).all() and (values == points["map_id"]).all()
    assert list(points["map_class"]) == [NAMES[v - 1] for v in values]
    assert (points["reference"] == "").all()
    # pixel centres of a 10 m grid at (500000, 4100000): x = 500005 + 10 k, y = 4099995 - 10 k
    assert np.allclose((points.geometry.x - 500005) % 10, 0) and np.allclose(
        (4099995 - points.geometry.y) % 10, 0
    )
    assert len({(p.x, p.y) for p in points.geometry}) == 100  # without replacement


def test_nodata_zero_and_values_of_no_class_are_never_sampled(tmp_path: Path, table: ClassTable) -> None:
    values = class_map()
    values[values == 2] = 255  # the map's nodata
    map_path = write_raster(tmp_path / "map.tif", values, classes=table, nodata=255)
    out = tmp_path / "census.gpkg"
    frame = int(np.isin(values, [1, 3, 4]).sum())
    summary = _sample(map_path, out, SampleSize(n=frame))  # a census of the frame
    sampled = _map_values(map_path, gpd.read_file(out))
    assert summary["frame_pixels"] == frame and len(sampled) == frame
    assert set(sampled.tolist()) == {1, 3, 4}  # never 0, 255 (nodata) or 9 (no class)


def test_the_same_seed_draws_the_same_points_and_another_seed_others(map_path: Path, tmp_path: Path) -> None:
    def draw(name: str, seed: int) -> list[tuple[float, float]]:
        _sample(map_path, tmp_path / name, SampleSize(n=60), seed=seed)
        return [(p.x, p.y) for p in gpd.read_file(tmp_path / name).geometry]

    first = draw("a.gpkg", 3)
    assert draw("b.gpkg", 3) == first
    assert draw("c.gpkg", 4) != first


def test_the_window_size_bounds_memory_not_the_frame(map_path: Path, tmp_path: Path) -> None:
    whole = _sample(map_path, tmp_path / "a.gpkg", SampleSize(n=80))
    windowed = _sample(map_path, tmp_path / "b.gpkg", SampleSize(n=80), block_size=16)
    assert windowed["classes"] == whole["classes"]
    points = gpd.read_file(tmp_path / "b.gpkg")
    assert (_map_values(map_path, points) == points["stratum"]).all()


def test_the_design_round_trips_with_the_maps_counts(map_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "samples.gpkg"
    _sample(map_path, out, SampleSize(expected_ua=((None, 0.8), ("Road", 0.6)), target_se=0.05), seed=5)
    design = read_design(out)
    assert design is not None
    values = class_map()
    counts = {c: int((values == c).sum()) for c in (1, 2, 3, 4)}
    assert {s.id: s.pixels for s in design.strata} == counts == design.mapped_pixels
    assert [s.name for s in design.strata] == NAMES
    assert design.map_sha256 == sha256_file(map_path) and design.seed == 5
    assert design.pixel_area_m2 == 100.0 and (design.width, design.height) == (70, 60)
    assert design.expected_ua == {1: 0.8, 2: 0.8, 3: 0.8, 4: 0.6} and design.target_se == 0.05
    frame = sum(counts.values())
    spread = sum(counts[c] / frame * np.sqrt(u * (1 - u)) for c, u in design.expected_ua.items())
    assert design.sample_size == int(np.ceil((spread / 0.05) ** 2)) == len(gpd.read_file(out))
    assert design.allocation == "proportional" and design.strata_are_map_classes


def test_exclude_leaves_out_the_scenes_labelled_pixels(
    map_path: Path, tmp_path: Path, table: ClassTable
) -> None:
    values = class_map()
    rng = np.random.default_rng(1)
    train = np.where(rng.random(values.shape) < 0.3, values % 5, 0).astype(np.uint8)
    test = np.where((train == 0) & (rng.random(values.shape) < 0.3), values % 5, 0).astype(np.uint8)
    scene = write_scene(tmp_path / "scene", train, test, table)
    out = tmp_path / "samples.gpkg"
    eligible = np.isin(values, [1, 2, 3, 4]) & (train == 0) & (test == 0)
    summary = _sample(map_path, out, SampleSize(n=int(eligible.sum())), exclude=scene)
    points = gpd.read_file(out)
    with rasterio.open(map_path) as src:
        rows, cols = rasterio.transform.rowcol(src.transform, points.geometry.x, points.geometry.y)
    assert not (train[rows, cols] > 0).any() and not (test[rows, cols] > 0).any()
    labelled = int((np.isin(values, [1, 2, 3, 4]) & ((train > 0) | (test > 0))).sum())
    assert summary["excluded_pixels"] == labelled == read_design(out).excluded_pixels  # type: ignore[union-attr]
    assert read_design(out).excluded_scene == str(scene)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--allocation", "equal", "-n", "40"], {1: 10, 2: 10, 3: 10, 4: 10}),
        (["--per-class", "Water=5", "--per-class", "Road=7"], {1: 5, 2: 0, 3: 0, 4: 7}),
        (["-n", "50"], None),  # proportional
    ],
)
def test_the_cli_allocations_and_json_summary(
    map_path: Path, tmp_path: Path, sample_cli, options, expected
) -> None:
    out = tmp_path / "samples.gpkg"
    code, stdout, stderr = sample_cli(map_path, "--out", out, "--json", *options)
    assert code == 0, stderr
    summary = json.loads(stdout)
    sizes = {c["id"]: c["sample_size"] for c in summary["classes"]}
    if expected is None:
        pixels = {c["id"]: c["pixels"] for c in summary["classes"]}
        assert all(abs(sizes[c] - 50 * pixels[c] / summary["frame_pixels"]) < 1 for c in sizes)
        assert summary["allocation"] == "proportional"
    else:
        assert sizes == expected
    assert sum(sizes.values()) == summary["sample_size"] == len(gpd.read_file(out))
    assert "N_h" in stderr and "W_h" in stderr and "n_h" in stderr and "total" in stderr


def test_points_open_styled_in_qgis(map_path: Path, tmp_path: Path, table: ClassTable) -> None:
    out = tmp_path / "samples.gpkg"
    _sample(map_path, out, SampleSize(n=20))
    qml = (tmp_path / "samples.qml").read_text()  # QGIS's default style of samples.gpkg
    assert pyogrio.list_layers(out).tolist() == [["samples", "Point"]]  # one layer: the points
    with sqlite3.connect(out) as db:  # GeoPackage 1.3: QGIS 3.22 (GDAL 3.6) warns on 1.4 files
        assert db.execute("pragma user_version").fetchone()[0] == 10300
    ET.fromstring(qml.split("\n", 2)[2])  # well-formed XML
    assert 'attr="map_class"' in qml and 'type="categorizedSymbol"' in qml
    for info in table:
        rgb = ",".join(map(str, info.colour))
        assert f'value="{info.name}"' in qml and f'"{rgb},255"' in qml  # the map's colours
    assert '<editWidget type="ValueMap">' in qml
    # Over the map a fill of the pixel's own colour vanishes: each symbol is a ring under the fill.
    for symbol in ET.fromstring(qml.split("\n", 2)[2]).iter("symbol"):
        ring, fill = (layer.find("Option") for layer in symbol.iter("layer"))
        colours = [{o.get("name"): o.get("value") for o in opt}.get("color") for opt in (ring, fill)]
        assert colours[0] == "255,255,255,255" and colours[1] != colours[0]


def test_a_geojson_sample_has_its_qml_beside_it(map_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "samples.geojson"
    _sample(map_path, out, SampleSize(n=10))
    assert len(gpd.read_file(out)) == 10 and (tmp_path / "samples.qml").exists()
    assert read_design(out) is not None


def test_overwrite_replaces_a_sample_cfipt_wrote(map_path: Path, tmp_path: Path, sample_cli) -> None:
    out = tmp_path / "samples.gpkg"
    assert sample_cli(map_path, "-n", "10", "--out", out)[0] == 0
    code, _, stderr = sample_cli(map_path, "-n", "10", "--out", out)
    assert code == 1 and "already exists; pass --overwrite" in stderr
    assert sample_cli(map_path, "-n", "12", "--out", out, "--overwrite")[0] == 0
    assert len(gpd.read_file(out)) == 12 and read_design(out).sample_size == 12  # type: ignore[union-attr]


def test_the_style_takes_the_colours_of_the_maps_colour_table(tmp_path: Path) -> None:
    painted = ClassTable.from_json(
        [{"id": i, "name": n, "colour": f"#{i:02x}80c0"} for i, n in enumerate(NAMES, 1)]
    )
    map_path = write_raster(tmp_path / "map.tif", class_map(), classes=painted, colormap=True)
    _sample(map_path, tmp_path / "samples.gpkg", SampleSize(n=10))
    qml = (tmp_path / "samples.qml").read_text()
    for i in range(1, 5):
        assert f'value="{i},128,192,255"' in qml  # from the GeoTIFF's colour table, not the .aux.xml


def test_a_map_on_a_plain_pixel_grid(tmp_path: Path, table: ClassTable) -> None:
    map_path = write_raster(
        tmp_path / "map.tif", class_map(), crs=None, transform=Affine.identity(), classes=table
    )
    out = tmp_path / "samples.gpkg"
    _sample(map_path, out, SampleSize(n=30))
    points = gpd.read_file(out)
    assert points.crs is None and read_design(out).pixel_area_m2 is None  # type: ignore[union-attr]
    rows, cols = (points.geometry.y - 0.5).astype(int), (points.geometry.x - 0.5).astype(int)
    assert (class_map()[rows, cols] == points["stratum"]).all()


def test_a_failure_while_writing_leaves_nothing(map_path: Path, tmp_path: Path, monkeypatch) -> None:
    from cfipt_cli.sample import pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_design", broken)
    with pytest.raises(OSError, match="No space left"):
        _sample(map_path, tmp_path / "out" / "samples.gpkg", SampleSize(n=10))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
