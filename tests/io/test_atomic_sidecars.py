"""`atomic_file` with sidecars (`cfipt_cli.io.atomic`): everything is checked before the first rename,
the old target goes aside before any sidecar moves, and no failure, race or kill leaves the sidecars
of one raster beside another; a replaced GeoTIFF loses a cfipt class style it does not rewrite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cfipt_cli.errors import OutputExistsError
from cfipt_cli.io import atomic
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.output_locks import clean_leftovers
from cfipt_cli.io.qgis_styles import raster_qml

CLASSES = ClassTable.from_json([{"id": 1, "name": "Water", "colour": "#0000ff"}])
OLD_STYLE = raster_qml(CLASSES)
NEW_STYLE = OLD_STYLE.replace("Water", "Lake")
REPO = Path(__file__).resolve().parents[2]


def _cfipt_tif(path: Path, value: int) -> Path:
    """A tiny GeoTIFF tagged as cfipt's, holding `value`."""
    from rasterio.transform import from_origin

    from cfipt_cli.io.mapio import PRODUCT_TAG

    profile = {"driver": "GTiff", "width": 2, "height": 2, "count": 1, "dtype": "uint8", "crs": "EPSG:32632"}
    with rasterio.open(path, "w", transform=from_origin(0, 2, 1, 1), **profile) as dst:
        dst.write(np.full((1, 2, 2), value, dtype=np.uint8))
        dst.update_tags(**{PRODUCT_TAG: "class map"})
    return path


def _old_map(folder: Path) -> Path:
    """map.tif (value 1) with its .aux.xml and cfipt's class style map.qml."""
    target = _cfipt_tif(folder / "map.tif", 1)
    Path(str(target) + ".aux.xml").write_text("<PAMDataset>old</PAMDataset>")
    (folder / "map.qml").write_text(OLD_STYLE)
    return target


def _write_new(tmp: Path, style: bool = True) -> None:
    _cfipt_tif(tmp, 2)
    Path(str(tmp) + ".aux.xml").write_text("<PAMDataset>new</PAMDataset>")
    if style:
        tmp.with_suffix(".qml").write_text(NEW_STYLE)


def _value(path: Path) -> int:
    with rasterio.open(path) as src:
        return int(src.read(1)[0, 0])


def test_a_target_created_between_the_write_and_the_rename_gets_no_sidecar_of_ours(tmp_path: Path) -> None:
    target = tmp_path / "map.tif"
    with pytest.raises(OutputExistsError, match="already exists"), atomic_file(target) as tmp:
        _write_new(tmp)
        target.write_text("someone else's file")  # after the policy check, before the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]  # no .aux.xml, no .qml beside it
    assert target.read_text() == "someone else's file"


@pytest.mark.parametrize("existed", [True, False])
def test_a_users_style_written_during_the_run_is_never_clobbered(tmp_path: Path, existed: bool) -> None:
    target = _old_map(tmp_path)
    if not existed:
        (tmp_path / "map.qml").unlink()
    with pytest.raises(OutputExistsError, match=r"map\.qml"), atomic_file(target, overwrite=True) as tmp:
        _write_new(tmp)
        (tmp_path / "map.qml").write_text("<qgis>my own colours</qgis>")  # after the policy check
    assert (tmp_path / "map.qml").read_text() == "<qgis>my own colours</qgis>"
    assert _value(target) == 1 and "old" in Path(str(target) + ".aux.xml").read_text()  # the old map, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_a_failed_rename_puts_the_old_raster_back_with_its_own_sidecars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _old_map(tmp_path)
    real_replace = os.replace

    def failing_replace(src: Path, dst: Path) -> None:
        if Path(dst) == target and ".tmp-" in Path(src).name:
            raise OSError("disk gone")  # the commit fails after the old files went aside
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"), atomic_file(target, overwrite=True) as tmp:
        _write_new(tmp)
    assert _value(target) == 1 and "old" in Path(str(target) + ".aux.xml").read_text()
    assert (tmp_path / "map.qml").read_text() == OLD_STYLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


KILLER = """
import os, sys
from pathlib import Path
from cfipt_cli.io import atomic
target, new, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
real = os.replace
def replace(src, dst):
    if Path(dst).name == kill_at:
        os._exit(9)  # as a kill -9 at this rename: no cleanup, no finally
    real(src, dst)
atomic.os.replace = replace
with atomic.atomic_file(target, overwrite=True) as tmp:
    for path in sorted(new.iterdir()):
        (tmp.parent / path.name.replace("new", tmp.stem, 1)).write_bytes(path.read_bytes())
"""


@pytest.mark.parametrize(
    ("kill_at", "value", "aux", "style"),
    [
        ("map.tif", 1, "old", OLD_STYLE),  # at the commit: the next run puts the old map back, whole
        ("map.tif.aux.xml", 2, None, None),  # after it: the new map, never with the old sidecars
        ("map.qml", 2, "new", None),
    ],
)
def test_a_kill_during_the_renames_never_leaves_one_rasters_sidecars_beside_another(
    tmp_path: Path, kill_at: str, value: int, aux: str | None, style: str | None
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = _old_map(out)
    new = tmp_path / "new"
    new.mkdir()
    _write_new(new / "new.tif")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", KILLER, target, new, kill_at], env=env, check=False)
    assert done.returncode == 9
    clean_leftovers(target)  # what the next run does, holding the lock
    assert _value(target) == value
    aux_path = Path(str(target) + ".aux.xml")
    assert (aux_path.read_text() if aux_path.exists() else None) == (
        None if aux is None else f"<PAMDataset>{aux}</PAMDataset>"
    )
    qml = out / "map.qml"
    assert (qml.read_text() if qml.exists() else None) == style
    assert not [p.name for p in out.iterdir() if ".old-" in p.name or ".tmp-" in p.name]


def test_a_geotiff_without_a_style_replacing_a_class_map_drops_cfipts_style_only(tmp_path: Path) -> None:
    target = _old_map(tmp_path)
    Path(str(target) + ".ovr").write_bytes(b"old overviews")  # the old raster's: would misdescribe the new
    with atomic_file(target, overwrite=True) as tmp:  # e.g. cfipt predict --proba over a map
        _write_new(tmp, style=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]
    assert _value(target) == 2 and "new" in Path(str(target) + ".aux.xml").read_text()
    (tmp_path / "map.qml").write_text("<qgis>my own colours</qgis>")  # a user's style stays
    with atomic_file(target, overwrite=True) as tmp:
        _write_new(tmp, style=False)
    assert (tmp_path / "map.qml").read_text() == "<qgis>my own colours</qgis>"


def test_a_non_geotiff_replacing_a_file_leaves_the_class_style_of_the_map_of_its_stem(tmp_path: Path) -> None:
    _old_map(tmp_path)
    (tmp_path / "map.png").write_bytes(b"old quicklook")
    with atomic_file(tmp_path / "map.png", overwrite=True) as tmp:
        tmp.write_bytes(b"new quicklook")
    assert (tmp_path / "map.qml").read_text() == OLD_STYLE  # map.tif's style, not the PNG's


def test_a_style_written_as_its_own_output_is_replaced_whatever_its_kind(tmp_path: Path) -> None:
    style = tmp_path / "samples.qml"  # as cfipt sample writes its points style: the target itself
    style.write_text("<!-- QGIS style of a cfipt sample -->\n<qgis/>")
    with atomic_file(style, overwrite=True) as tmp:
        tmp.write_text("<!-- QGIS style of a cfipt sample -->\n<qgis>new</qgis>")
    assert "new" in style.read_text()
