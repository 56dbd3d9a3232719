"""Atomic outputs: nothing half-written, nothing replaced without overwrite."""

from __future__ import annotations

import pytest

from cfipt_cli.errors import DataError, OutputExistsError
from cfipt_cli.io.atomic import JsonDocument, atomic_dir, atomic_file, check_output


def test_atomic_dir_renames_on_success(tmp_path):
    target = tmp_path / "scene"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("x")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["scene"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "scene"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_untouched_without_overwrite(tmp_path):
    target = tmp_path / "scene"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"), atomic_dir(target):
        pass
    assert (target / "keep.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["scene"]


def test_overwrite_replaces_dir(tmp_path):
    target = tmp_path / "scene"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["scene"]


def test_atomic_file_moves_gdal_sidecars(tmp_path):
    target = tmp_path / "map.tif"
    with atomic_file(target) as tmp:
        assert tmp.suffix == ".tif" and tmp.parent == tmp_path
        tmp.write_bytes(b"tif")
        (tmp.parent / (tmp.name + ".aux.xml")).write_text("<PAMDataset/>")
    assert target.read_bytes() == b"tif"
    assert (tmp_path / "map.tif.aux.xml").read_text() == "<PAMDataset/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map.tif.aux.xml"]


def test_atomic_file_failure_removes_temp(tmp_path):
    target = tmp_path / "map.tif"
    with pytest.raises(ValueError), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_check_output_is_also_a_builtin_error(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError):
        check_output(tmp_path / "x", overwrite=False)
    assert check_output(tmp_path / "x", overwrite=True) == tmp_path / "x"


def test_outputs_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "map.tif") as tmp:
            tmp.write_bytes(b"x")
        with atomic_dir(tmp_path / "scene") as tmp:
            (tmp / "a").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "map.tif").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "scene").stat().st_mode & 0o777 == 0o755


def test_a_writer_that_recreates_the_file_privately_still_gives_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "model.safetensors") as tmp:
            tmp.unlink()  # as safetensors does: a new file, created 0600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
    finally:
        os.umask(umask)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", r"doc\.json is broken: "),
        (b"\xff\xfe", r"doc\.json is broken: "),  # not UTF-8
        (b"[1, 2]", r"doc\.json is not a test document$"),
        (b'{"format": "other"}', r"doc\.json is not a test document$"),
    ],
)
def test_json_document_rejects_with_the_callers_messages(tmp_path, content, message):
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        JsonDocument("test", DataError, "{path} is broken: {exc}", "{path} is not a test document").read(path)


def test_json_document_returns_the_object(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('{"format": "test", "n": 1}', encoding="utf-8")
    assert JsonDocument("test", DataError, unreadable="", foreign="").read(path) == {
        "format": "test",
        "n": 1,
    }
