"""The QGIS styles cfipt writes (`cfipt_cli.io.qgis_styles`): a class raster's legend lists exactly its
classes; the style lands atomically beside the raster; the output policy knows it; a real QGIS agrees."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from cfipt_cli.errors import CfiptUsageError, OutputExistsError
from cfipt_cli.io import mapio
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.output_locks import clean_leftovers
from cfipt_cli.io.qgis_styles import CLASS_STYLE_MARK, points_qml, raster_qml, style_path
from cfipt_cli.io.rasters import Grid
from cfipt_cli.testing.qgis_probe import has_qgis, qgis_legend

CLASSES = ClassTable.from_json(
    [
        {"id": 2, "name": "Water", "colour": "#0000ff"},
        {"id": 5, "name": "Trees & shrubs", "colour": "#00aa00"},
        {"id": 9, "name": "Road", "colour": "#808080"},
    ]
)


def _palette(qml: str) -> list[tuple[str, str, str]]:
    assert qml.splitlines()[0] == CLASS_STYLE_MARK
    root = ET.fromstring(qml.split("\n", 2)[2])
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "paletted" and renderer.get("band") == "1"
    return [(e.get("value"), e.get("color"), e.get("label")) for e in renderer.iter("paletteEntry")]  # type: ignore[misc]


def _write_map(target: Path, ids: np.ndarray, classes: ClassTable = CLASSES) -> None:
    grid = Grid(ids.shape[1], ids.shape[0], CRS.from_epsg(32633), Affine(2, 0, 500000, 0, -2, 4000000))
    with atomic_file(target) as tmp:
        with mapio.open_class_map(tmp, grid, classes, None) as dst:
            dst.write(ids, 1)
            mapio.finish_class_map(dst, classes)
        mapio.write_class_sidecars(tmp, classes)


def _ids() -> np.ndarray:
    return np.random.default_rng(0).choice([0, 2, 5, 9], size=(30, 40)).astype(np.uint8)


def test_the_raster_style_lists_exactly_the_classes_with_names_and_colours() -> None:
    assert _palette(raster_qml(CLASSES)) == [
        ("2", "#0000ff", "Water"),
        ("5", "#00aa00", "Trees & shrubs"),  # escaped in the XML, read back as given
        ("9", "#808080", "Road"),
    ]  # no 0 (nodata: not drawn), no filler entries up to 255


def test_the_style_lands_beside_the_map_with_its_other_sidecars_and_no_temporary_left(tmp_path: Path) -> None:
    _write_map(tmp_path / "map.tif", _ids())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]
    assert style_path(tmp_path / "map.tif") == tmp_path / "map.qml"
    assert [label for _, _, label in _palette((tmp_path / "map.qml").read_text())] == CLASSES.names


def test_a_failed_write_leaves_no_style_and_no_temporary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "map.tif") as tmp:
        tmp.write_bytes(b"half")
        mapio.write_raster_style(tmp, CLASSES)
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runs_temporary_style_is_removed_and_a_moved_one_restored(tmp_path: Path) -> None:
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True)
    dead = int(done.stdout)  # the pid of a process that has exited
    leftover = tmp_path / f".map.tmp-{dead}-abc123.qml"
    leftover.write_text(raster_qml(CLASSES))
    moved = tmp_path / f".map.qml.old-{dead}"  # moved aside by a run killed during its final renames
    moved.write_text(raster_qml(CLASSES))
    foreign = tmp_path / f".notes.qml.old-{dead}"  # not beside this output: left alone
    foreign.write_text("mine")
    clean_leftovers(tmp_path / "map.tif")
    assert not leftover.exists() and not moved.exists() and foreign.exists()
    assert (tmp_path / "map.qml").read_text() == raster_qml(CLASSES)  # put back


def _class_map(path: Path) -> policy.Output:
    return policy.Output(path, "--out", policy.CLASS_MAP)


def test_the_policy_refuses_a_foreign_style_even_with_overwrite_and_replaces_cfipts(tmp_path: Path) -> None:
    out = tmp_path / "map.tif"
    style = tmp_path / "map.qml"
    style.write_text("<qgis>my own colours</qgis>\n")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        policy.check_outputs([_class_map(out)], [], overwrite=False)
    with pytest.raises(OutputExistsError, match=r"map\.qml is not a QGIS style of a cfipt class raster"):
        policy.check_outputs([_class_map(out)], [], overwrite=True)
    style.write_text(raster_qml(CLASSES))
    policy.check_outputs([_class_map(out)], [], overwrite=True)  # cfipt's own: replaced


def test_overwrite_replaces_map_and_style_together(tmp_path: Path) -> None:
    out = tmp_path / "map.tif"
    _write_map(out, _ids())
    policy.check_outputs([_class_map(out)], [], overwrite=True)
    with atomic_file(out, overwrite=True) as tmp:
        other = ClassTable.from_names(["Only"])
        grid = Grid(4, 4, CRS.from_epsg(32633), Affine(2, 0, 500000, 0, -2, 4000000))
        with mapio.open_class_map(tmp, grid, other, None) as dst:
            dst.write(np.ones((4, 4), np.uint8), 1)
        mapio.write_class_sidecars(tmp, other)
    assert [label for _, _, label in _palette((tmp_path / "map.qml").read_text())] == ["Only"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_a_style_never_goes_over_an_inputs_style(tmp_path: Path) -> None:
    with pytest.raises(CfiptUsageError, match="would replace the input"):  # map.qml is the input's style
        policy.check_outputs([_class_map(tmp_path / "map.tiff")], [("map", tmp_path / "map.tif")], False)
    with pytest.raises(CfiptUsageError, match="would replace the input"):  # a sample's style too
        policy.check_outputs(
            [policy.Output(tmp_path / "map.qml", "--out", policy.SAMPLE_STYLE)],
            [("map", tmp_path / "map.tif")],
            False,
        )
    policy.check_outputs([_class_map(tmp_path / "clean.tif")], [("map", tmp_path / "map.tif")], False)
    (tmp_path / "scene").mkdir()  # a folder input has no style: scene.tif beside it is fine
    policy.check_outputs([_class_map(tmp_path / "scene.tif")], [("scene folder", tmp_path / "scene")], False)


def test_the_points_style_colours_by_one_field_and_edits_another() -> None:
    qml = points_qml(CLASSES, "map_class", "label", "<!-- mark -->")
    assert qml.splitlines()[0] == "<!-- mark -->"
    root = ET.fromstring(qml.split("\n", 2)[2])
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("attr") == "map_class"
    assert [c.get("value") for c in renderer.iter("category")] == CLASSES.names
    fields = root.findall("fieldConfiguration/field")
    assert [f.get("name") for f in fields] == ["label"]
    choices = [o.get("name") for o in fields[0].iter("Option") if o.get("type") == "QString"]
    assert choices == CLASSES.names


# ------------------------------------------------------------------------------------ a real QGIS
@pytest.mark.skipif(not has_qgis(), reason="no QGIS for /usr/bin/python3 (CI has none)")
def test_map_opens_in_qgis_with_a_legend_of_exactly_its_classes(tmp_path: Path) -> None:
    _write_map(tmp_path / "map.tif", _ids())
    shown = qgis_legend(tmp_path / "map.tif")
    assert shown["valid"] and shown["type"] == "paletted"
    assert shown["legend"] == [[c.name, "#{:02x}{:02x}{:02x}".format(*c.colour)] for c in CLASSES]
    (tmp_path / "map.qml").unlink()  # without the style, QGIS lists the GeoTIFF's 256 palette entries
    assert len(qgis_legend(tmp_path / "map.tif")["legend"]) == 256
