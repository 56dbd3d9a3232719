"""The output policy of every command (`cfipt_cli.io.outputs`): never over an input, only cfipt's outputs
replaced, one run per output (a lock that dies with its process), leftovers of killed runs removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cfipt_cli.errors import CfiptUsageError, OutputBusyError, OutputExistsError, OutputNotWritableError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import TMP_MARKER, atomic_dir
from cfipt_cli.io.mapio import png_metadata

REPO = Path(__file__).resolve().parents[2]


def _out(path: Path, kind: policy.OutputKind = policy.GEOTIFF, flag: str = "--out") -> policy.Output:
    return policy.Output(path, flag, kind)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(done.stdout)


# ------------------------------------------------------------------------------------ over inputs
@pytest.mark.parametrize(
    "make_output",
    [
        lambda d: d / "scene",  # equal to an input folder
        lambda d: d / "scene" / "scene.json",  # inside an input folder
        lambda d: d / "scene" / "sub" / "x.tif",
        lambda d: d,  # a folder that holds the input
        lambda d: d / "scene" / "." / "stack.tif",  # through `.`
        lambda d: d / "link" / "stack.tif",  # through a link to the input
    ],
)
def test_outputs_over_inside_or_around_an_input_are_usage_errors(tmp_path, make_output):
    (tmp_path / "scene").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "scene")
    with pytest.raises(CfiptUsageError, match="would replace the input"):
        policy.refuse_outputs_over_inputs([_out(make_output(tmp_path))], [("scene", tmp_path / "scene")])


def test_sidecars_of_inputs_and_outputs_count(tmp_path):
    map_path = tmp_path / "map.tif"
    with pytest.raises(CfiptUsageError):  # the map's class names
        policy.refuse_outputs_over_inputs(
            [_out(tmp_path / "map.tif.aux.xml", policy.PNG)], [("map", map_path)]
        )
    with pytest.raises(CfiptUsageError):  # a shapefile's attribute table
        policy.refuse_outputs_over_inputs(
            [_out(tmp_path / "l.dbf", policy.PNG)], [("labels", tmp_path / "l.shp")]
        )
    with pytest.raises(CfiptUsageError):  # a GeoTIFF output writes OUT.aux.xml, here an input
        policy.refuse_outputs_over_inputs([_out(tmp_path / "x")], [("classes", tmp_path / "x.aux.xml")])
    policy.refuse_outputs_over_inputs([_out(tmp_path / "other.tif")], [("map", map_path)])  # no error


def test_the_working_directory_and_duplicate_outputs_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CfiptUsageError, match="working directory"):
        policy.refuse_outputs_over_inputs([_out(Path("."), policy.SCENE)], [])
    with pytest.raises(CfiptUsageError, match="working directory"):
        policy.refuse_outputs_over_inputs([_out(tmp_path.parent, policy.SCENE)], [])
    with pytest.raises(CfiptUsageError, match="same file"):
        policy.refuse_outputs_over_inputs(
            [_out(Path("a.tif")), _out(tmp_path / "a.tif", policy.PNG, "--plot")], []
        )


# ------------------------------------------------------------------------------------ --overwrite
def _geotiff(path: Path, tagged: bool) -> Path:
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8", "crs": "EPSG:32632"}
    with rasterio.open(path, "w", transform=rasterio.Affine(1, 0, 0, 0, -1, 4), **profile) as dst:
        dst.write(np.ones((1, 4, 4), np.uint8))
        if tagged:
            dst.update_tags(CFIPT_PRODUCT="class map")
    return path


def _png(path: Path, metadata: dict[str, str]) -> Path:
    from matplotlib.image import imsave

    imsave(path, np.zeros((2, 2, 4), np.uint8), format="png", metadata=metadata)
    return path


@pytest.mark.parametrize(
    ("kind", "make", "ours"),
    [
        (policy.GEOTIFF, lambda p: _geotiff(p, tagged=True), True),
        (policy.GEOTIFF, lambda p: _geotiff(p, tagged=False), False),  # a user's raster
        (policy.PNG, lambda p: _png(p, png_metadata()), True),
        (policy.PNG, lambda p: _png(p, {}), False),  # matplotlib's, not cfipt's
        (policy.REPORT_JSON, lambda p: p.write_text(json.dumps({"format": "cfipt-evaluation"})), True),
        (policy.REPORT_JSON, lambda p: p.write_text('{"format": "cfipt-scene"}'), False),
        (policy.REPORT_CSV, lambda p: p.write_text("#Reference labels (rows):1,2\n"), True),
        (policy.REPORT_CSV, lambda p: p.write_text("a,b\n1,2\n"), False),
        (policy.REPORT_MD, lambda p: p.write_text("Mean ± standard deviation over 2 runs\n"), True),
        (policy.REPORT_MD, lambda p: p.write_text("# my notes\n"), False),
        (policy.GEOTIFF, lambda p: p.write_bytes(b""), True),  # an empty file holds nothing to lose
        (policy.SCENE, lambda p: p.mkdir(), True),  # an empty folder too
        (
            policy.SCENE,
            lambda p: (p.mkdir(), (p / "scene.json").write_text('{"format": "cfipt-scene"}')),
            True,
        ),
        (policy.SCENE, lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), False),
        (
            policy.MODEL,
            lambda p: (p.mkdir(), (p / "model.json").write_text('{"format": "cfipt-model"}')),
            True,
        ),
        (policy.MODEL, lambda p: p.write_text("a file"), False),
    ],
)
def test_overwrite_replaces_only_what_cfipt_wrote(tmp_path, kind, make, ours):
    path = tmp_path / "out.x"
    make(path)
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        policy.check_replaceable(_out(path, kind), overwrite=False)
    if ours:
        policy.check_replaceable(_out(path, kind), overwrite=True)
    else:
        with pytest.raises(OutputExistsError, match="replaces only what cfipt wrote"):
            policy.check_replaceable(_out(path, kind), overwrite=True)


def test_a_link_at_the_output_is_never_replaced(tmp_path):
    _geotiff(tmp_path / "map.tif", tagged=True)
    (tmp_path / "link.tif").symlink_to(tmp_path / "map.tif")
    with pytest.raises(OutputExistsError, match="only what cfipt wrote"):
        policy.check_replaceable(_out(tmp_path / "link.tif"), overwrite=True)


# ------------------------------------------------------------------------------------ the lock
def test_a_second_run_on_the_same_output_fails_at_once(tmp_path):
    target = tmp_path / "map.tif"
    with policy.locked_outputs([target]):
        assert policy.lock_path(target).exists()
        with (
            pytest.raises(
                OutputBusyError, match=f"being written by another cfipt run \\(process {os.getpid()}\\)"
            ),
            policy.locked_outputs([tmp_path / "." / "map.tif"]),
        ):
            pass
        with policy.locked_outputs([tmp_path / "other.tif"]):  # other outputs are free
            pass
    assert not policy.lock_path(target).exists()  # no lock file stays behind
    with policy.locked_outputs([target]):  # and the output is free again
        pass


def test_the_lock_dies_with_a_killed_process(tmp_path):
    target = tmp_path / "scene"
    code = (
        "import os, signal, sys\n"
        "from cfipt_cli.io.outputs import locked_outputs\n"
        f"with locked_outputs([{str(target)!r}]):\n"
        "    print('locked', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL and done.stdout == "locked\n"
    assert policy.lock_path(target).exists()  # the file stays, its lock does not
    with policy.locked_outputs([target]):
        pass


def test_an_unwritable_output_folder_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with (
        pytest.raises(OutputNotWritableError, match=r"cannot write in .*file"),
        policy.locked_outputs([tmp_path / "file" / "map.tif"]),
    ):
        pass
    assert (tmp_path / "file").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_one_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    with (
        pytest.raises(OutputNotWritableError, match="Permission denied"),
        policy.locked_outputs([folder / "scene"]),
    ):
        pass


def test_missing_parent_folders_are_removed_again_on_failure(tmp_path):
    with pytest.raises(RuntimeError), policy.locked_outputs([tmp_path / "a" / "b" / "map.tif"]):
        assert (tmp_path / "a" / "b").is_dir()
        raise RuntimeError
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------------------------------ leftovers
def test_the_temporary_folder_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    target = tmp_path / "scene"
    code = (
        "import os, signal\n"
        "from cfipt_cli.io.atomic import atomic_dir\n"
        f"with atomic_dir({str(target)!r}) as tmp:\n"
        "    (tmp / 'stack.tif').write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == -signal.SIGKILL
    (left,) = [p for p in tmp_path.iterdir() if p.name.startswith(".scene.tmp-")]
    assert (left / TMP_MARKER).exists()
    with policy.locked_outputs([target]):
        assert not left.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_only_dead_runs_leftovers_are_removed(tmp_path):
    target, dead, alive = tmp_path / "map.tif", _dead_pid(), os.getpid()
    marker = {"host": __import__("socket").gethostname()}
    for pid in (dead, alive):
        folder = tmp_path / f".map.tif.tmp-{pid}-abc"
        folder.mkdir()
        (folder / TMP_MARKER).write_text(json.dumps({**marker, "pid": pid}))
        (tmp_path / f".map.tmp-{pid}-xyz.tif").write_bytes(b"half")
        (tmp_path / f".map.tmp-{pid}-xyz.tif.aux.xml").write_bytes(b"half")
    (tmp_path / f".map.tif.tmp-{dead}-nomarker").mkdir()  # not recognisably cfipt's
    (tmp_path / f".other.tmp-{dead}-xyz.tif").write_bytes(b"another output's")
    with policy.locked_outputs([target]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            f".map.tif.tmp-{alive}-abc",
            f".map.tmp-{alive}-xyz.tif",
            f".map.tmp-{alive}-xyz.tif.aux.xml",
            f".map.tif.tmp-{dead}-nomarker",
            f".other.tmp-{dead}-xyz.tif",
        ]
    )


def _cfipt_map(path: Path, value: int, sidecar: bool = True) -> Path:
    """A tiny GeoTIFF tagged as cfipt's, with a .aux.xml sidecar."""
    from rasterio.transform import from_origin

    from cfipt_cli.io.mapio import PRODUCT_TAG

    profile = {"driver": "GTiff", "width": 2, "height": 2, "count": 1, "dtype": "uint8", "crs": "EPSG:32632"}
    with rasterio.open(path, "w", transform=from_origin(0, 2, 1, 1), **profile) as dst:
        dst.write(np.full((1, 2, 2), value, dtype=np.uint8))
        dst.update_tags(**{PRODUCT_TAG: "class map"})
    if sidecar:
        Path(str(path) + ".aux.xml").write_text(f"<PAMDataset>{value}</PAMDataset>")
    return path


def test_an_output_moved_aside_by_a_killed_run_is_restored(tmp_path):
    target, dead = tmp_path / "map.tif", _dead_pid()
    _cfipt_map(tmp_path / "made.tif", 7).rename(tmp_path / f".map.tif.old-{dead}")
    (tmp_path / "made.tif.aux.xml").rename(tmp_path / f".map.tif.aux.xml.old-{dead}")
    with policy.locked_outputs([target]):
        with rasterio.open(target) as src:
            assert (src.read(1) == 7).all()
        assert "7" in Path(str(target) + ".aux.xml").read_text()  # the sidecar comes back with it
    _cfipt_map(tmp_path / f".map.tif.old-{dead}", 8, sidecar=False)  # the new map is in place: drop it
    with policy.locked_outputs([target]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]


def test_a_users_file_named_like_a_moved_aside_output_is_left_alone(tmp_path):
    """Only what cfipt wrote is put back or removed: a text file called .s3.tif.old-PID stays as it is."""
    dead = _dead_pid()
    mine = tmp_path / f".s3.tif.old-{dead}"
    mine.write_text("mine")
    with policy.locked_outputs([tmp_path / "s3.tif"]):
        pass
    assert mine.read_text() == "mine" and not (tmp_path / "s3.tif").exists()
    (tmp_path / "s3.tif").write_text("also mine")  # present output: the lookalike is not deleted either
    with policy.locked_outputs([tmp_path / "s3.tif"]):
        pass
    assert mine.read_text() == "mine"


def test_an_output_name_too_long_for_the_temporary_names_is_refused_before_any_work(tmp_path):
    output = policy.Output(tmp_path / ("q" * 236 + ".tif"), "--out", policy.GEOTIFF)
    with pytest.raises(CfiptUsageError, match="240 bytes and cfipt needs 40 more"):
        policy.check_outputs([output], [], overwrite=False)
    fine = policy.Output(tmp_path / ("q" * 200 + ".tif"), "--out", policy.GEOTIFF)
    policy.check_outputs([fine], [], overwrite=False)


def test_atomic_dir_marks_its_temporary_folder_until_the_rename(tmp_path):
    with atomic_dir(tmp_path / "scene") as tmp:
        assert json.loads((tmp / TMP_MARKER).read_text())["pid"] == os.getpid()
        assert tmp.name.startswith(f".scene.tmp-{os.getpid()}-")
        (tmp / "scene.json").write_text("{}")
    assert sorted(p.name for p in (tmp_path / "scene").iterdir()) == ["scene.json"]


def test_leftovers_inside_a_model_folder_are_removed_and_a_moved_checkpoint_restored(tmp_path):
    model, dead = tmp_path / "model", _dead_pid()
    model.mkdir()
    (model / "model.json").write_text('{"format": "cfipt-model"}')
    half = model / f".checkpoint.tmp-{dead}-abcd"  # kill -9 while the checkpoint was written
    half.mkdir()
    (half / TMP_MARKER).write_text(json.dumps({"pid": dead, "host": __import__("socket").gethostname()}))
    (model / f".model.tmp-{dead}-x1y2.json").write_text("{")
    (model / f".checkpoint.old-{dead}").mkdir()  # kill -9 between the two renames of a checkpoint
    with policy.locked_outputs([model]):
        pass
    assert sorted(p.name for p in model.iterdir()) == ["checkpoint", "model.json"]


def test_the_style_beside_any_geotiff_output_counts_as_an_output_path(tmp_path):
    """A GeoTIFF output may remove a cfipt `<stem>.qml` beside it (`atomic_file`): it never is an input's."""
    with pytest.raises(CfiptUsageError, match="would replace the input"):  # map.qml is map.tif's style
        policy.refuse_outputs_over_inputs([_out(tmp_path / "map.tiff")], [("map", tmp_path / "map.tif")])
    policy.refuse_outputs_over_inputs(
        [_out(tmp_path / "map.png", policy.PNG)], [("map", tmp_path / "map.tif")]
    )
