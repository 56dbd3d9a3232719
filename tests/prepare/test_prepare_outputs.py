"""`cfipt prepare` under the output policy: a foreign folder is never replaced, `--out .` and inputs are
refused before any work, one run per output, Ctrl-C says nothing was written."""

from __future__ import annotations

import pytest

from cfipt_cli.errors import EXIT_ERROR, EXIT_USAGE
from cfipt_cli.io import outputs as policy

pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def _argv(scene_files, out, *more):
    return ["-q", "prepare", "--hsi", scene_files.hsi, "--lidar", scene_files.lidar, "--out", out, *more]


def test_overwrite_never_deletes_a_folder_that_is_not_a_scene(run_cli, scene_files, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("precious")
    code, _, stderr = run_cli(_argv(scene_files, folder, "--overwrite"))
    assert code == EXIT_ERROR and stderr.count("\n") == 1 and "not a cfipt scene folder" in stderr
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder, no lock file


def test_overwrite_replaces_a_scene_and_an_empty_folder(run_cli, scene_files, tmp_path):
    out = tmp_path / "scene"
    out.mkdir()
    assert run_cli(_argv(scene_files, out, "--overwrite"))[0] == 0
    (out / "scene.json").touch()  # a scene folder as cfipt wrote it is replaced as a whole
    before = (out / "scene.json").stat().st_mtime_ns
    assert run_cli(_argv(scene_files, out, "--overwrite"))[0] == 0
    assert (out / "scene.json").stat().st_mtime_ns != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_out_dot_is_refused_before_any_work(run_cli, scene_files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    code, _, stderr = run_cli(_argv(scene_files, ".", "--overwrite"))
    assert code == EXIT_USAGE and "working directory" in stderr and stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_an_out_that_holds_an_input_is_refused(run_cli, scene_files):
    folder = scene_files.hsi.parent
    code, _, stderr = run_cli(_argv(scene_files, folder, "--overwrite"))
    assert code == EXIT_USAGE and "would replace the input" in stderr


def test_a_second_prepare_on_the_same_out_fails_with_one_line(run_cli, scene_files, tmp_path):
    out = tmp_path / "scene"
    with policy.locked_outputs([out]):  # another run holds it
        code, _, stderr = run_cli(_argv(scene_files, out))
    assert code == EXIT_ERROR and "being written by another cfipt run" in stderr and stderr.count("\n") == 1
    assert not out.exists()


def test_an_out_below_a_file_is_one_line(run_cli, scene_files, tmp_path):
    (tmp_path / "f").write_text("x")
    code, _, stderr = run_cli(_argv(scene_files, tmp_path / "f" / "scene"))
    assert (
        code == EXIT_ERROR and stderr.startswith("cfipt: error: cannot write in") and stderr.count("\n") == 1
    )


def test_ctrl_c_says_nothing_was_written(run_cli, scene_files, tmp_path, monkeypatch):
    import cfipt_cli.prepare.pipeline as prepare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare, "windowed_pass", interrupted)
    code, _, stderr = run_cli(_argv(scene_files, tmp_path / "scene"))
    assert code == 130 and stderr == "cfipt: error: interrupted; no output was written\n"
    assert list(tmp_path.iterdir()) == []


def test_a_gdal_write_failure_is_one_line_and_leaves_nothing(run_cli, scene_files, tmp_path, monkeypatch):
    from rasterio.errors import RasterioIOError

    import cfipt_cli.prepare.pipeline as prepare

    def failing(*args, **kwargs):
        raise RasterioIOError("Write failed. See previous exception for details.")

    monkeypatch.setattr(prepare, "windowed_pass", failing)
    code, _, stderr = run_cli(_argv(scene_files, tmp_path / "scene"))
    assert code == EXIT_ERROR and stderr.count("\n") == 1 and "Write failed" in stderr
    assert list(tmp_path.iterdir()) == []
